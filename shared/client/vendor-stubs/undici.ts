/**
 * Stands in for `undici` in dist/vendor/index.js (see tsconfig.vendor.json). @actions/http-client
 * imports it only for getAgentDispatcher(), the proxy dispatcher of fetch-style callers; the
 * actions never call that (HttpClient.request goes through node:http/https, and `tunnel` for
 * HTTPS_PROXY), and evaluating undici was most of a successful step's start-up. Should a
 * future caller reach it, it fails loudly instead of silently skipping the proxy.
 */
export class ProxyAgent {
  constructor() {
    throw new Error(
      "undici's ProxyAgent is not part of this action's bundle (HttpClient.getAgentDispatcher() is unsupported here); requests must go through HttpClient.request(), which honours HTTPS_PROXY itself"
    )
  }
}
