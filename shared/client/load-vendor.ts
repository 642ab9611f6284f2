/**
 * Loads vendor.ts: in a bundle, the separate dist/vendor/index.js next to dist/<action>/
 * (one copy for all actions, evaluated only when needed); from sources (tests, tsx), the
 * module itself. `webpackIgnore` keeps ncc from pulling either into the action bundles.
 */
export type Vendor = typeof import('./vendor')

declare const __webpack_require__: unknown

let loading: Promise<Vendor> | undefined

export function loadVendor(): Promise<Vendor> {
  loading ??=
    typeof __webpack_require__ === 'function'
      ? // Joined at run time so that ncc's asset relocator leaves the path alone.
        import(/* webpackIgnore: true */ new URL(['..', 'vendor', 'index.js'].join('/'), import.meta.url).href)
      : import(/* webpackIgnore: true */ './vendor')
  return loading
}
