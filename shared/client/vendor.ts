/**
 * The third-party code the actions need, bundled once into dist/vendor/index.js and loaded
 * by the action bundles only once their inputs are valid (see load-vendor.ts). Evaluating
 * these (@actions/core pulls in @actions/http-client and undici) is most of a bundle's
 * start-up time, and they are the same for every action.
 */
export * as core from '@actions/core'
export { HttpClient } from '@actions/http-client'
