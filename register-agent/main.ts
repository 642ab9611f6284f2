/**
 * The action's logic entry point: exports run() and starts nothing. The runner starts
 * index.ts (bundled into dist/register-agent/index.js), which calls it; GitHub's local-action imports
 * this module and calls run() itself (README, "Debugging locally").
 */
export { run } from '../shared/client/actions/register-agent'
