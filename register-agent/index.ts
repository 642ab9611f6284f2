import { run } from './main'

// Never rejects: every failure ends in core.setFailed and the exit code (run-action.ts).
void run()
