import { run } from '../shared/client/actions/federate'

// Never rejects: every failure ends in core.setFailed and the exit code (run-action.ts).
void run()
