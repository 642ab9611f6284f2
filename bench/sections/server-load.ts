/**
 * 3-5. Load on one server (embedded database or PostgreSQL): the agent-scoped exchange at
 * 1, 16 and 64 connections, federate for an existing workspace and for first-time sign-ups,
 * each request with its own freshly minted token, driven from a separate autocannon process.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import type { RepoIdentity } from '../../shared/testing/oidc-issuer'
import type { BenchServer } from '../lib/bench-server'
import { runLoad } from '../lib/load'
import type { LoadResult } from '../lib/load-protocol'
import type { TokenMinter } from '../lib/minter'
import { fmt, median } from '../lib/stats'
import type { ResultTable } from '../lib/table'
import { bootstrapExchange, registerAgent } from './cold-start'

export const EXCHANGE_IDENTITY: RepoIdentity = { repository: 'bench/exchange', repositoryId: '500000000', ownerId: '7' }
const FEDERATE_IDENTITY: RepoIdentity = { repository: 'bench/federate', repositoryId: '600000000', ownerId: '7' }
const SIGNUP_IDENTITY: RepoIdentity = { repository: 'bench/signup', repositoryId: '700000000', ownerId: '7' }

const HTTP_FLOOR = fileURLToPath(new URL('../lib/http-floor.ts', import.meta.url))
const EXCHANGE_SHARE_TARGET = 0.25
const P99_TARGET_MS = 25

export interface LoadPlan {
  runs: number
  /** Requests per run at each connection count. */
  exchange: Array<{ connections: number; amount: number }>
  federateAmount: number
  federateConnections: number
}

/** Registers an agent with its trust policy; returns what an agent-scoped exchange needs. */
export async function prepareAgent(server: BenchServer, minter: TokenMinter, name: string): Promise<string> {
  await server.admin.createTrustPolicy({ repository: EXCHANGE_IDENTITY.repository })
  const [token] = await minter.mint({ count: 1, audience: server.url, identity: EXCHANGE_IDENTITY })
  const agentId = await registerAgent(server.url, await bootstrapExchange(server.url, token!), name)
  await server.admin.createTrustPolicy({ repository: EXCHANGE_IDENTITY.repository, agentId })
  return agentId
}

/** Mints `amount` (+ what autocannon may ask beyond it) tokens and runs them through the exchange. */
export async function exchangeRun(server: BenchServer, minter: TokenMinter, agentId: string, connections: number, amount: number): Promise<LoadResult> {
  const bodies = await exchangeBodies(minter, server.url, agentId, amount + 2 * connections)
  return runLoad({ url: server.url, path: '/api/v1/oidc/token', connections, amount, bodies })
}

/** Exchange request bodies, each with its own freshly minted token for `audience`. */
export async function exchangeBodies(minter: TokenMinter, audience: string, agentId: string, count: number): Promise<string[]> {
  const tokens = await minter.mint({ count, audience, identity: EXCHANGE_IDENTITY })
  return tokens.map((token) => JSON.stringify({ provider: 'github', token, agentId }))
}

async function federateRun(server: BenchServer, minter: TokenMinter, connections: number, amount: number, signUps: boolean): Promise<LoadResult> {
  const tokens = await minter.mint({
    count: amount + 2 * connections,
    audience: 'persql',
    identity: signUps ? SIGNUP_IDENTITY : FEDERATE_IDENTITY,
    distinctRepositories: signUps
  })
  return runLoad({ url: server.url, path: '/v1/identity/federate', connections, amount, bearerTokens: tokens })
}

/** Starts lib/http-floor.ts in a process of its own; the caller ends it (SIGTERM). */
export async function startHttpFloor(): Promise<{ child: ChildProcess; url: string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', HTTP_FLOOR], { stdio: ['ignore', 'pipe', 'inherit'] })
  const url = await new Promise<string>((resolve, reject) => {
    child.stdout.once('data', (chunk: Buffer) => resolve(chunk.toString('utf8').trim()))
    child.once('exit', (code) => reject(new Error(`http floor server exited with ${code}`)))
  })
  return { child, url }
}

/**
 * The same load (same bodies, same connections) against lib/http-floor.ts: Fastify and
 * the same body schema, no verification, signing or database. Returns its median req/s.
 */
export async function httpFloorRun(minter: TokenMinter, connections: number, amount: number, runs: number): Promise<number> {
  const { child, url } = await startHttpFloor()
  try {
    const rates: number[] = []
    for (let r = 0; r < runs + 1; r++) {
      const bodies = await exchangeBodies(minter, url, '7b0c2c1e-9f3e-4c57-8f0a-2d6c3b1a9e41', amount + 2 * connections)
      const result = await runLoad({ url, path: '/api/v1/oidc/token', connections, amount, bodies })
      if (result.non2xx + result.errors > 0) throw new Error(`http floor answered ${JSON.stringify(result.statuses)}`)
      if (r > 0) rates.push(result.requestsPerSecond) // the first run warms the JIT
    }
    return median(rates)
  } finally {
    child.kill('SIGTERM')
  }
}

interface Summary {
  rps: number
  p50: number
  p99: number
  failures: number
  detail: string
}

function summarize(results: LoadResult[]): Summary {
  const failures = results.reduce((n, r) => n + r.errors + r.timeouts + r.non2xx + r.reusedTokens, 0)
  const samples = [...new Set(results.flatMap((r) => r.sampleFailures))].slice(0, 3)
  return {
    rps: median(results.map((r) => r.requestsPerSecond)),
    p50: median(results.map((r) => r.p50Ms)),
    p99: median(results.map((r) => r.p99Ms)),
    failures,
    detail: samples.length ? ` (${samples.join('; ')})` : ''
  }
}

export async function serverLoad(
  table: ResultTable,
  label: string,
  server: BenchServer,
  minter: TokenMinter,
  plan: LoadPlan,
  cryptoRate: number
): Promise<{ agentId: string }> {
  const section = `3. exchange (${label})`
  const agentId = await prepareAgent(server, minter, `bench-load@agents.example`)
  // Warm-up: JIT, JWKS fetch per issuer, database caches.
  await exchangeRun(server, minter, agentId, 16, 1000)

  for (const { connections, amount } of plan.exchange) {
    const results: LoadResult[] = []
    for (let r = 0; r < plan.runs; r++) results.push(await exchangeRun(server, minter, agentId, connections, amount))
    const s = summarize(results)
    const share = s.rps / cryptoRate
    const rated = connections === 16
    table.add({
      section,
      metric: `POST /api/v1/oidc/token, ${connections} conn: req/s`,
      value: `${fmt(s.rps)} req/s`,
      reference: `crypto-only ${fmt(cryptoRate)} ops/s`,
      ratio: `${(share * 100).toFixed(0)}%`,
      ...(rated ? { target: `>= ${EXCHANGE_SHARE_TARGET * 100}%`, pass: share >= EXCHANGE_SHARE_TARGET } : {})
    })
    if (rated) {
      const floor = await httpFloorRun(minter, connections, amount, plan.runs)
      table.add({
        section,
        metric: `${connections} conn: HTTP floor (lib/http-floor.ts: Fastify + same body schema, no crypto, no database)`,
        value: `${fmt(floor)} req/s`,
        reference: `exchange ${fmt(s.rps)} req/s`,
        ratio: `exchange = ${((s.rps / floor) * 100).toFixed(0)}% of floor; floor = ${((floor / cryptoRate) * 100).toFixed(0)}% of crypto-only`
      })
    }
    table.add({
      section,
      metric: `${connections} conn: p50 / p99 latency`,
      value: `${fmt(s.p50, 'ms')} / ${fmt(s.p99, 'ms')}`,
      ...(rated ? { target: `p99 < ${P99_TARGET_MS} ms`, pass: s.p99 < P99_TARGET_MS } : {})
    })
    table.add({
      section,
      metric: `${connections} conn: errors + non-2xx (${plan.runs} x ${amount} req)`,
      value: `${s.failures}${s.detail}`,
      target: '0',
      pass: s.failures === 0
    })
  }

  const fsection = `4. federate (${label})`
  // The workspace exists before the measured runs.
  await federateRun(server, minter, 1, 1, false)
  for (const signUps of [false, true]) {
    const results: LoadResult[] = []
    for (let r = 0; r < plan.runs; r++) results.push(await federateRun(server, minter, plan.federateConnections, plan.federateAmount, signUps))
    const s = summarize(results)
    table.add({
      section: fsection,
      metric: `${signUps ? 'first-time sign-ups (distinct repository_id)' : 'existing workspace'}, ${plan.federateConnections} conn`,
      value: `${fmt(s.rps)} req/s, p50 ${fmt(s.p50, 'ms')}, p99 ${fmt(s.p99, 'ms')}`
    })
    table.add({
      section: fsection,
      metric: `${signUps ? 'sign-ups' : 'existing'}: errors + non-2xx (${plan.runs} x ${plan.federateAmount} req)`,
      value: `${s.failures}${s.detail}`,
      target: '0',
      pass: s.failures === 0
    })
  }
  return { agentId }
}
