/**
 * The third-party code the actions need, bundled once into dist/vendor/index.js and loaded
 * by the action bundles only once their inputs are valid (see load-vendor.ts). Evaluating
 * these is most of a bundle's start-up time, and they are the same for every action. In the
 * bundle, the parts of their dependencies the actions never reach are stubs (vendor-stubs/).
 */
export * as core from '@actions/core'
export { HttpClient } from '@actions/http-client'
