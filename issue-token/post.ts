/**
 * The post step's logic entry point: exports run() and starts nothing. The runner starts
 * post-index.ts (bundled into dist/issue-token/post.js), which calls it; GitHub's
 * local-action imports this module and calls run() after the main step (`--post post.ts`).
 */
export { run } from '../shared/client/actions/issue-token-post'
