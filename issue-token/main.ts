import { run } from '../shared/client/actions/issue-token'

// Never rejects: every failure ends in core.setFailed and the exit code (run-action.ts).
void run()
