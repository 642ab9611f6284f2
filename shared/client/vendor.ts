/**
 * The third-party code the actions need, bundled once into dist/vendor/index.js and loaded
 * by the action bundles only once their inputs are valid (see load-vendor.ts). Evaluating
 * these is most of a bundle's start-up time, and they are the same for every action. In the
 * bundle, http-client's `undici` import is a stub (shared/client/undici-stub.ts).
 */
export * as core from '@actions/core'
export { HttpClient } from '@actions/http-client'
