/** What the bench asks of its load-generator process, and what it answers. */

export interface LoadJob {
  url: string
  path: string
  connections: number
  /** Exactly this many requests (each with its own token); or durationSeconds. */
  amount?: number
  /** Run for this long instead of a number of requests (the items are then sent in turn, again and again). */
  durationSeconds?: number
  /** Exchange: one JSON body per request. */
  bodies?: string[]
  /** Federate: one bearer token per request (no body). */
  bearerTokens?: string[]
  /** Workspace SQL: a path, a bearer and a JSON body per request; reused in turn (a workspace token serves many requests). */
  requests?: Array<{ path: string; bearer: string; body: string }>
  timeoutSeconds?: number
}

export interface LoadResult {
  requests: number
  durationMs: number
  requestsPerSecond: number
  p50Ms: number
  p99Ms: number
  maxMs: number
  errors: number
  timeouts: number
  non2xx: number
  /** Status code counts. */
  statuses: Record<string, number>
  /** A few non-2xx bodies, to say why. */
  sampleFailures: string[]
  /** Requests that had to reuse a token (should be 0). */
  reusedTokens: number
  /** CPU time of the load generator during the run (user + system), and the wall time it ran. */
  cpuMs?: number
  wallMs?: number
}
