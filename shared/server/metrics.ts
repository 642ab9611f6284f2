/**
 * GET /metrics in the Prometheus text exposition format (0.0.4), written by hand: a few
 * counters and one histogram do not justify prom-client, and the hot path stays a map
 * lookup and a few increments per request (onResponse). Labels never carry a repository
 * or an identity (unbounded cardinality, and they are not the operator's to scrape).
 */
import type { FastifyPluginAsync, FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'
import { SERVICES } from './services'
import { requestFacts, type RequestFacts, type WorkspaceEvent } from './request-facts'
import type { Db } from './store/db'

/** Seconds; covers a cached in-memory answer up to a slow issuer key fetch. */
const PROCESS_START_SECONDS = performance.timeOrigin / 1000

export const LATENCY_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]

export interface PoolStats {
  total: number
  idle: number
  waiting: number
  max: number
}

interface Series {
  labels: Record<string, string>
  value: number
}

interface Histogram {
  labels: Record<string, string>
  /** Per bucket, not cumulative (render adds them up): one increment per observation. */
  counts: number[]
  sum: number
  count: number
}

/** Escapes a label value (backslash, quote, newline), per the exposition format. */
function label(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')
}

function labels(pairs: Record<string, string>, extra = ''): string {
  const parts = Object.entries(pairs).map(([k, v]) => `${k}="${label(v)}"`)
  if (extra) parts.push(extra)
  return parts.length ? `{${parts.join(',')}}` : ''
}

/** Series key: the label values joined (label names are fixed per metric). */
function keyOf(pairs: Record<string, string>): string {
  let key = ''
  for (const k in pairs) key += `${pairs[k]}\u0001`
  return key
}

export class Metrics {
  private readonly counters = new Map<string, Map<string, Series>>()
  private readonly histograms = new Map<string, Map<string, Histogram>>()
  private readonly help = new Map<string, [type: string, text: string]>()

  constructor(
    private readonly poolStats: () => PoolStats | undefined = () => undefined,
    private readonly workspaceStats: () => { open: number } = () => ({ open: 0 })
  ) {
    this.describe('federate_exchanges_total', 'counter', 'Access tokens issued by the OIDC exchange, by scope')
    this.describe('federate_federations_total', 'counter', 'Workspace tokens issued by federate, by whether the workspace was created')
    this.describe('federate_registrations_total', 'counter', 'Agent registrations answered, by whether the agent was created')
    this.describe('federate_denials_total', 'counter', 'Refused requests by endpoint and error code (the denial reason)')
    this.describe(
      'federate_unverified_failures_total',
      'counter',
      'Refused requests whose caller was never verified (malformed, bad or foreign tokens; rate_limited: refused by address), by endpoint and error code; the audit log aggregates these'
    )
    this.describe('federate_workspace_requests_total', 'counter', 'Workspace SQL API requests by endpoint (query, batch, tables, info) and outcome (ok or the error code)')
    this.describe('federate_workspace_statements_total', 'counter', 'SQL statements the workspaces ran, all workspaces together')
    this.describe('federate_workspace_rows_read_total', 'counter', 'Rows the workspaces read, all workspaces together')
    this.describe('federate_workspace_rows_written_total', 'counter', 'Rows the workspaces wrote, all workspaces together')
    // Unlabelled totals are shown from the start (0), not only once a workspace ran something.
    for (const name of ['federate_workspace_statements_total', 'federate_workspace_rows_read_total', 'federate_workspace_rows_written_total']) this.inc(name, {}, 0)
    this.describe('federate_http_requests_total', 'counter', 'HTTP requests by route, method and status code')
    this.describe('federate_http_request_duration_seconds', 'histogram', 'Time to answer an HTTP request, by route')
  }

  private describe(name: string, type: string, text: string): void {
    this.help.set(name, [type, text])
  }

  inc(name: string, labelPairs: Record<string, string>, by = 1): void {
    let family = this.counters.get(name)
    if (!family) this.counters.set(name, (family = new Map<string, Series>()))
    const key = keyOf(labelPairs)
    const series = family.get(key)
    if (series) series.value += by
    else family.set(key, { labels: labelPairs, value: by })
  }

  observe(name: string, labelPairs: Record<string, string>, seconds: number): void {
    let family = this.histograms.get(name)
    if (!family) this.histograms.set(name, (family = new Map<string, Histogram>()))
    const key = keyOf(labelPairs)
    let h = family.get(key)
    if (!h) family.set(key, (h = { labels: labelPairs, counts: LATENCY_BUCKETS.map(() => 0), sum: 0, count: 0 }))
    let i = 0
    while (i < LATENCY_BUCKETS.length && seconds > LATENCY_BUCKETS[i]!) i++
    if (i < LATENCY_BUCKETS.length) h.counts[i]!++
    h.sum += seconds
    h.count++
  }

  /** Counts one answered request (called from onResponse). */
  record(route: string, method: string, status: number, seconds: number, facts: RequestFacts): void {
    const endpoint = `${method} ${route}`
    this.inc('federate_http_requests_total', { route, method, status: String(status) })
    this.observe('federate_http_request_duration_seconds', { route, method }, seconds)
    const reason = status >= 400 ? (facts.errorCode ?? (status === 404 ? 'not_found' : 'invalid_request')) : undefined
    if (facts.event?.metric === 'workspace') this.recordWorkspace(facts.event, reason)
    if (reason !== undefined) {
      this.inc('federate_denials_total', { endpoint, reason })
      if (facts.identity === undefined) this.inc('federate_unverified_failures_total', { endpoint, reason })
      return
    }
    // What was issued or created is the handler's to say (request-facts.ts), not re-derived here.
    const event = facts.event
    if (event?.metric === 'exchange') this.inc('federate_exchanges_total', { scope: event.scope })
    else if (event?.metric === 'federation') this.inc('federate_federations_total', { created: String(event.created) })
    else if (event?.metric === 'registration') this.inc('federate_registrations_total', { created: String(event.created) })
  }

  /** Aggregate only: no namespace or repository (a failed request still counts the statements it ran). */
  private recordWorkspace(event: WorkspaceEvent, reason: string | undefined): void {
    this.inc('federate_workspace_requests_total', { endpoint: event.endpoint, outcome: reason ?? 'ok' })
    if (event.statements) this.inc('federate_workspace_statements_total', {}, event.statements)
    if (event.rowsRead) this.inc('federate_workspace_rows_read_total', {}, event.rowsRead)
    if (event.rowsWritten) this.inc('federate_workspace_rows_written_total', {}, event.rowsWritten)
  }

  /** The exposition text. */
  render(): string {
    const out: string[] = []
    for (const [name, [type, text]] of this.help) {
      out.push(`# HELP ${name} ${text}`, `# TYPE ${name} ${type}`)
      if (type === 'counter') {
        for (const series of this.counters.get(name)?.values() ?? []) out.push(`${name}${labels(series.labels)} ${series.value}`)
        continue
      }
      for (const h of this.histograms.get(name)?.values() ?? []) {
        let cumulative = 0
        LATENCY_BUCKETS.forEach((bound, i) => {
          cumulative += h.counts[i]!
          out.push(`${name}_bucket${labels(h.labels, `le="${bound}"`)} ${cumulative}`)
        })
        out.push(`${name}_bucket${labels(h.labels, 'le="+Inf"')} ${h.count}`)
        out.push(`${name}_sum${labels(h.labels)} ${h.sum}`, `${name}_count${labels(h.labels)} ${h.count}`)
      }
    }
    const pool = this.poolStats()
    if (pool) {
      out.push('# HELP federate_db_pool_connections PostgreSQL pool connections by state (max: the configured size)')
      out.push('# TYPE federate_db_pool_connections gauge')
      for (const state of ['total', 'idle', 'waiting', 'max'] as const) {
        out.push(`federate_db_pool_connections{state="${state}"} ${pool[state]}`)
      }
    }
    // Tells apart the processes behind one port (WORKERS > 1: a scrape reaches any one worker) and marks a restart.
    out.push('# HELP process_start_time_seconds Start time of the process since unix epoch in seconds')
    out.push('# TYPE process_start_time_seconds gauge', `process_start_time_seconds ${PROCESS_START_SECONDS}`)
    out.push('# HELP federate_workspace_sessions_open Workspace databases open now (embedded: instances; PostgreSQL: sessions)')
    out.push('# TYPE federate_workspace_sessions_open gauge', `federate_workspace_sessions_open ${this.workspaceStats().open}`)
    return `${out.join('\n')}\n`
  }
}

/** Pool statistics when the driver has a pool (PostgreSQL); the embedded database has none. */
export function poolStatsOf(db: Db): () => PoolStats | undefined {
  return () => db.poolStats?.()
}

const plugin: FastifyPluginAsync = async (app) => {
  const metrics = new Metrics(poolStatsOf(app.store.db), () => app.workspaces.engine.stats())
  const driver = app.store.db.kind
  app.addHook('onResponse', async (request: FastifyRequest, reply) => {
    const route = request.routeOptions.url ?? 'unmatched'
    if (route === '/metrics') return
    metrics.record(route, request.method, reply.statusCode, reply.elapsedTime / 1000, requestFacts(request))
  })
  app.get('/metrics', async (_request, reply) => {
    reply.type('text/plain; version=0.0.4; charset=utf-8')
    return `${metrics.render()}# HELP federate_db_info The database driver in use\n# TYPE federate_db_info gauge\nfederate_db_info${labels({ driver })} 1\n`
  })
}

export const metricsPlugin = fp(plugin, { name: 'federate-metrics', fastify: '5.x', dependencies: [SERVICES] })
