/**
 * Stands in for `@actions/exec` in dist/vendor/index.js (see tsconfig.vendor.json).
 * @actions/core imports it only for core.platform.getDetails(), which the actions never call;
 * the real module loads child_process, dgram and @actions/io at start-up.
 */
function unsupported(): never {
  throw new Error("@actions/exec is not part of this action's bundle (core.platform.getDetails() is unsupported here)")
}

export const exec = unsupported
export const getExecOutput = unsupported
