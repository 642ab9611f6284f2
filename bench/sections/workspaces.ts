/**
 * 8. The workspace SQL API in one storage mode (embedded PGlite or PostgreSQL), on one server:
 *    - point SELECT and single-row INSERT at 16 connections spread over 100 workspaces (a
 *      random workspace per request), beside the same load on one workspace;
 *    - the first query of a brand-new workspace, and federate for a new vs an existing one;
 *    - server RSS once 100 workspaces were used (embedded: their worker threads are in it);
 *    - isolation: the exchange's p99 and another workspace's point-SELECT p99 while runaway
 *      statements run (a CPU-bound one and pg_sleep, each ended by the statement timeout).
 * The load runs for a time, not a number of requests: under LRU churn a request may wait for
 * an instance to open, so a fixed amount would make a run's length unpredictable.
 */
import type { RepoIdentity } from '../../shared/testing/oidc-issuer'
import type { BenchServer } from '../lib/bench-server'
import { runLoad } from '../lib/load'
import type { LoadResult } from '../lib/load-protocol'
import type { TokenMinter } from '../lib/minter'
import { rssMiB } from '../lib/proc'
import { fmt, fmtRatio, median } from '../lib/stats'
import type { ResultTable } from '../lib/table'
import { exchangeRun, prepareAgent } from './server-load'

export interface WorkspacesPlan {
  /** Workspaces the spread load picks from. */
  workspaces: number
  /** Rows of each workspace's table. */
  rows: number
  runs: number
  connections: number
  /** Length of one load run. */
  loadSeconds: number
  /** Brand-new workspaces for the first-query figure. */
  firstQueryRuns: number
  /** Requests of one exchange run in the isolation rows. */
  exchangeAmount: number
  /** Only the spread load and RSS (a comparison run with other server settings). */
  loadOnly?: boolean
}

const P99_TARGET_MS = 10
const CONCURRENT_SETUP = 4
/** Distinct requests generated per load run; sent in turn (random order, so no pattern repeats within a run's reach). */
const REQUEST_POOL = 20_000
const LOAD_TIMEOUT_SECONDS = 30

const SELECT_SQL = 'SELECT body FROM notes WHERE id = $1'
const INSERT_SQL = 'INSERT INTO notes (body) VALUES ($1)'
const CPU_RUNAWAY = 'SELECT count(*) FROM generate_series(1, 1e10)'
const SLEEP_RUNAWAY = 'SELECT pg_sleep(60)'

interface Workspace {
  /** The path of data.url (the server may announce another public origin). */
  path: string
  token: string
}

interface Timed<T> {
  ms: number
  status: number
  body: T
}

async function post<T>(url: string, bearer: string, body?: unknown): Promise<Timed<T>> {
  const started = performance.now()
  const res = await fetch(url, {
    method: 'POST',
    headers: { authorization: `Bearer ${bearer}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) })
  })
  const text = await res.text()
  const ms = performance.now() - started
  return { ms, status: res.status, body: (text ? JSON.parse(text) : undefined) as T }
}

interface FederateAnswer {
  data?: { token: string; url: string }
}

async function federate(server: BenchServer, oidcToken: string): Promise<Timed<Workspace>> {
  const answer = await post<FederateAnswer>(`${server.url}/v1/identity/federate`, oidcToken)
  if (answer.status !== 200 && answer.status !== 201) throw new Error(`federate answered ${answer.status}: ${JSON.stringify(answer.body)}`)
  const data = answer.body.data!
  return { ms: answer.ms, status: answer.status, body: { path: new URL(data.url).pathname, token: data.token } }
}

async function query(server: BenchServer, ws: Workspace, sql: string, params: unknown[] = []): Promise<Timed<unknown>> {
  return post(`${server.url}${ws.path}/query`, ws.token, { sql, params })
}

function identity(tag: string, i: number): RepoIdentity {
  return { repository: `bench/ws-${tag}-${i}`, repositoryId: String(900_000_000 + (tag === 'new' ? 100_000 : 0) + i), ownerId: '7' }
}

/** One OIDC token per identity (each mint call goes to one minting process). */
async function mintFor(minter: TokenMinter, identities: RepoIdentity[]): Promise<string[]> {
  return (await Promise.all(identities.map((id) => minter.mint({ count: 1, audience: 'persql', identity: id })))).map(([t]) => t!)
}

async function inBatches<T, R>(items: T[], width: number, each: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array<R>(items.length)
  let next = 0
  await Promise.all(
    Array.from({ length: width }, async () => {
      while (next < items.length) {
        const i = next++
        out[i] = await each(items[i]!, i)
      }
    })
  )
  return out
}

/** Federates `count` repositories and gives each a `notes` table of `rows` rows (primary key). */
export async function prepareWorkspaces(server: BenchServer, minter: TokenMinter, count: number, rows: number): Promise<Workspace[]> {
  const tokens = await mintFor(
    minter,
    Array.from({ length: count }, (_, i) => identity('load', i))
  )
  return inBatches(tokens, CONCURRENT_SETUP, async (token) => {
    const { body: ws } = await federate(server, token)
    const setup = await post(`${server.url}${ws.path}/batch`, ws.token, {
      transaction: true,
      statements: [
        { sql: 'CREATE TABLE IF NOT EXISTS notes (id bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY, body text NOT NULL)' },
        { sql: "INSERT INTO notes (body) SELECT 'note ' || g FROM generate_series(1, $1::int) g", params: [rows] }
      ]
    })
    if (setup.status !== 200) throw new Error(`workspace set-up answered ${setup.status}: ${JSON.stringify(setup.body)}`)
    return ws
  })
}

export type Kind = 'select' | 'insert'

function requestPool(workspaces: Workspace[], kind: Kind, rows: number): Array<{ path: string; bearer: string; body: string }> {
  return Array.from({ length: REQUEST_POOL }, () => {
    const ws = workspaces[Math.floor(Math.random() * workspaces.length)]!
    const body = kind === 'select' ? { sql: SELECT_SQL, params: [1 + Math.floor(Math.random() * rows)] } : { sql: INSERT_SQL, params: ['bench note'] }
    return { path: `${ws.path}/query`, bearer: ws.token, body: JSON.stringify(body) }
  })
}

export async function sqlLoad(server: BenchServer, workspaces: Workspace[], kind: Kind, plan: WorkspacesPlan, seconds = plan.loadSeconds): Promise<LoadResult> {
  const result = await runLoad({
    url: server.url,
    path: '/',
    connections: plan.connections,
    durationSeconds: seconds,
    timeoutSeconds: LOAD_TIMEOUT_SECONDS,
    requests: requestPool(workspaces, kind, plan.rows)
  })
  // autocannon ends a timed run with requests still in flight; the server finishes them (and
  // opens their instances) anyway, which would land on the next run. Let them drain first.
  await new Promise((resolve) => setTimeout(resolve, Math.min(result.maxMs, LOAD_TIMEOUT_SECONDS * 1000) + 250))
  return result
}

interface Summary {
  rps: number
  p50: number
  p99: number
  failures: number
  detail: string
}

function summarize(results: LoadResult[]): Summary {
  // Latencies are of answered requests only: a timed run's last requests in flight are not counted.
  const samples = [...new Set(results.flatMap((r) => r.sampleFailures))].slice(0, 2)
  return {
    rps: median(results.map((r) => r.requestsPerSecond)),
    p50: median(results.map((r) => r.p50Ms)),
    p99: median(results.map((r) => r.p99Ms)),
    failures: results.reduce((n, r) => n + r.errors + r.timeouts + r.non2xx, 0),
    detail: samples.length ? ` (${samples.join('; ')})` : ''
  }
}

const latency = (s: Summary): string => `${fmt(s.p50, 'ms')} / ${fmt(s.p99, 'ms')}`

/** Keeps `sql` running on `ws`, one statement after another, until stopped; counts the statement timeouts. */
function runaway(server: BenchServer, ws: Workspace, sql: string): { stop(): Promise<{ timeouts: number; other: string[] }> } {
  let running = true
  let timeouts = 0
  const other: string[] = []
  const loop = (async () => {
    while (running) {
      const answer = await query(server, ws, sql)
      const code = (answer.body as { code?: string } | undefined)?.code
      if (code === 'statement_timeout') timeouts++
      else if (other.length < 3) other.push(`${answer.status} ${code ?? ''}`)
    }
  })()
  return {
    // The statement in flight is left to end at the timeout, so the next baseline run is clean.
    async stop() {
      running = false
      await loop
      return { timeouts, other }
    }
  }
}

export async function workspacesSection(table: ResultTable, label: string, server: BenchServer, minter: TokenMinter, plan: WorkspacesPlan): Promise<void> {
  const section = `8. workspaces (${label})`
  const rssIdle = rssMiB(server.pid)
  let started = performance.now()
  const workspaces = await prepareWorkspaces(server, minter, plan.workspaces, plan.rows)
  const setupSeconds = (performance.now() - started) / 1000
  console.log(`  ${section}: ${plan.workspaces} workspaces federated and filled in ${setupSeconds.toFixed(1)} s`)
  const one = [workspaces[0]!]

  // 1. Point SELECT and INSERT, spread vs one workspace; runs interleaved so noise hits both.
  // Warm-up: every workspace once (set-up took long enough for the first ones to be closed as
  // idle), then JIT and connections.
  await inBatches(workspaces, CONCURRENT_SETUP, (ws) => query(server, ws, 'SELECT 1'))
  await sqlLoad(server, workspaces, 'select', plan, 2)
  const results: Record<string, LoadResult[]> = { 'select spread': [], 'select one': [], 'insert spread': [], 'insert one': [] }
  for (let r = 0; r < plan.runs; r++) {
    for (const kind of ['select', 'insert'] as const) {
      results[`${kind} spread`]!.push(await sqlLoad(server, workspaces, kind, plan))
      if (!plan.loadOnly) results[`${kind} one`]!.push(await sqlLoad(server, one, kind, plan))
    }
  }
  const rssUsed = rssMiB(server.pid)
  const conn = `${plan.connections} conn`
  for (const kind of ['select', 'insert'] as const) {
    const spread = summarize(results[`${kind} spread`]!)
    const single = plan.loadOnly ? undefined : summarize(results[`${kind} one`]!)
    const what = kind === 'select' ? 'point SELECT by primary key' : 'single-row INSERT'
    table.add({
      section,
      metric: `${what}, ${conn}, ${plan.workspaces} workspaces at random: req/s`,
      value: `${fmt(spread.rps)} req/s`,
      ...(single ? { reference: `one workspace, ${conn}: ${fmt(single.rps)} req/s`, ratio: single.rps > 0 ? `${((spread.rps / single.rps) * 100).toFixed(0)}%` : 'n/a' } : {})
    })
    table.add({
      section,
      metric: `${what}, ${plan.workspaces} workspaces: p50 / p99`,
      value: latency(spread),
      ...(single ? { reference: `one workspace: ${latency(single)}` } : {}),
      ...(kind === 'select' ? { target: `p99 < ${P99_TARGET_MS} ms`, pass: spread.p99 < P99_TARGET_MS } : {})
    })
    table.add({
      section,
      metric: `${what}: errors + timeouts + non-2xx (${plan.runs} x ${plan.loadSeconds} s${single ? ', spread; one workspace' : ''})`,
      value: `${spread.failures}${single ? `; ${single.failures}` : ''}${spread.detail}${single?.detail ?? ''}`,
      target: '0',
      pass: spread.failures + (single?.failures ?? 0) === 0
    })
  }

  // 3. Memory once every workspace was used.
  table.add({
    section,
    metric: `server RSS after ${plan.workspaces} workspaces were used (VmRSS of the server process${label.includes('PGlite') ? ', their worker threads included' : '; PostgreSQL backends not included'})`,
    value: fmt(rssUsed, 'MiB'),
    reference: `idle after start: ${fmt(rssIdle, 'MiB')}`,
    ratio: fmtRatio(rssUsed / rssIdle)
  })
  if (plan.loadOnly) return

  // 2. First query of a brand-new workspace; federate new vs existing. Sequential, one at a time.
  const ids = Array.from({ length: plan.firstQueryRuns }, (_, i) => identity('new', i))
  const [fresh, again] = [await mintFor(minter, ids), await mintFor(minter, ids)]
  const first: number[] = []
  const warm: number[] = []
  const created: number[] = []
  const existing: number[] = []
  for (let i = 0; i < ids.length; i++) {
    const made = await federate(server, fresh[i]!)
    if (made.status !== 201) throw new Error(`federate of a new repository answered ${made.status}`)
    created.push(made.ms)
    started = performance.now()
    const answer = await query(server, made.body, 'SELECT 1')
    if (answer.status !== 200) throw new Error(`first query answered ${answer.status}: ${JSON.stringify(answer.body)}`)
    first.push(performance.now() - started)
    warm.push((await query(server, made.body, 'SELECT 1')).ms)
    existing.push((await federate(server, again[i]!)).ms)
  }
  table.add({
    section,
    metric: `first SELECT 1 of a brand-new workspace, from federate's answer (median of ${ids.length})`,
    value: fmt(median(first), 'ms'),
    reference: `the next SELECT 1 there: ${fmt(median(warm), 'ms')}`,
    ratio: fmtRatio(median(first) / median(warm))
  })
  table.add({
    section,
    metric: `federate of a new repository (workspace created + provisioned), one at a time (median of ${ids.length})`,
    value: fmt(median(created), 'ms'),
    reference: `federate of the same, existing: ${fmt(median(existing), 'ms')}`,
    ratio: fmtRatio(median(created) / median(existing))
  })

  // 4. Isolation: runaway statements on two workspaces of their own (the embedded engine runs one
  //    statement per workspace at a time, so on one workspace they would take turns).
  const agentId = await prepareAgent(server, minter, 'bench-workspaces@agents.example')
  await exchangeRun(server, minter, agentId, plan.connections, 500) // warm-up
  const victim = [workspaces[1]!]
  const [cpuWs, sleepWs] = [workspaces[plan.workspaces - 1]!, workspaces[plan.workspaces - 2]!]
  const iso: Record<string, LoadResult[]> = { 'exchange calm': [], 'select calm': [], 'exchange runaway': [], 'select runaway': [] }
  let timeouts = 0
  const otherAnswers: string[] = []
  for (let r = 0; r < plan.runs; r++) {
    iso['exchange calm']!.push(await exchangeRun(server, minter, agentId, plan.connections, plan.exchangeAmount))
    iso['select calm']!.push(await sqlLoad(server, victim, 'select', plan))
    const loops = [runaway(server, cpuWs, CPU_RUNAWAY), runaway(server, sleepWs, SLEEP_RUNAWAY)]
    await new Promise((resolve) => setTimeout(resolve, 500)) // both statements under way
    iso['exchange runaway']!.push(await exchangeRun(server, minter, agentId, plan.connections, plan.exchangeAmount))
    iso['select runaway']!.push(await sqlLoad(server, victim, 'select', plan))
    for (const loop of loops) {
      const ended = await loop.stop()
      timeouts += ended.timeouts
      otherAnswers.push(...ended.other)
    }
  }
  for (const [what, key] of [
    ['POST /api/v1/oidc/token (exchange)', 'exchange'],
    ['another workspace: point SELECT', 'select']
  ] as const) {
    const calm = summarize(iso[`${key} calm`]!)
    const loaded = summarize(iso[`${key} runaway`]!)
    table.add({
      section,
      metric: `${what}, ${conn}, while runaway statements run: p50 / p99, req/s`,
      value: `${latency(loaded)}, ${fmt(loaded.rps)} req/s`,
      reference: `without them: ${latency(calm)}, ${fmt(calm.rps)} req/s`,
      ratio: `p99 ${fmtRatio(loaded.p99 / calm.p99)}`
    })
    table.add({
      section,
      metric: `${what}: errors + timeouts + non-2xx (with; without)`,
      value: `${loaded.failures}; ${calm.failures}${loaded.detail}${calm.detail}`,
      target: '0',
      pass: loaded.failures + calm.failures === 0
    })
  }
  table.add({
    section,
    metric: `runaway statements ended by the statement timeout (${CPU_RUNAWAY}; ${SLEEP_RUNAWAY}; two workspaces, in a loop)`,
    value: `${timeouts}${otherAnswers.length ? ` (other answers: ${otherAnswers.slice(0, 3).join('; ')})` : ''}`
  })
}
