/**
 * WORKERS=2 on one PostgreSQL: one process forks two server workers on one port. Requests
 * reach both, and what must hold across processes holds across workers (the rate limit, an
 * Idempotency-Key replay, one created:true for racing first federations, a generated admin
 * token). A killed worker is replaced while the port keeps answering; SIGTERM stops them all;
 * without DATABASE_URL the start is refused.
 *
 * Every request here opens its own connection: the primary hands connections (not requests)
 * to the workers in turn, so fresh connections are what spreads them. Which worker answered
 * is read from its own /metrics (process_start_time_seconds tells the processes apart).
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals'
import { execFileSync, spawnSync } from 'node:child_process'
import { request } from 'node:http'
import { fileURLToPath } from 'node:url'
import { githubClaims, LocalOidcIssuer } from '../../shared/testing/oidc-issuer'
import { startPostgres, type TestPostgres } from '../../shared/testing/postgres'
import { startServerProcess, type ServerProcess } from '../../shared/testing/server-process'
import { waitFor } from '../../shared/testing/wait-for'
import { repo } from './cluster'

const REPO_ROOT = fileURLToPath(new URL('../..', import.meta.url))
const RATE_BURST = 30

interface Answer {
  status: number
  text: string
  body: any // eslint-disable-line @typescript-eslint/no-explicit-any
}

/** One request on a connection of its own (no keep-alive pool). */
function fresh(base: string, method: string, path: string, options: { token?: string; body?: unknown; headers?: Record<string, string> } = {}): Promise<Answer> {
  const headers: Record<string, string> = { ...options.headers }
  if (options.token) headers.authorization = `Bearer ${options.token}`
  const payload = options.body === undefined ? undefined : JSON.stringify(options.body)
  if (payload !== undefined) headers['content-type'] = 'application/json'
  return new Promise((resolve, reject) => {
    const req = request(new URL(path, base), { method, headers, agent: false, timeout: 30_000 }, (res) => {
      let text = ''
      res.setEncoding('utf8')
      res.on('data', (chunk: string) => (text += chunk))
      res.on('end', () => {
        let body: unknown
        try {
          body = text ? JSON.parse(text) : undefined
        } catch {
          body = undefined
        }
        resolve({ status: res.statusCode ?? 0, text, body })
      })
    })
    req.on('timeout', () => req.destroy(new Error('timed out')))
    req.on('error', reject)
    req.end(payload)
  })
}

/**
 * The workers' pids: the server process's children that run node. The server runs its sources
 * through tsx, whose esbuild service is a child too (on a fresh machine, with no transform cache).
 */
function workerPids(pid: number): number[] {
  try {
    return execFileSync('ps', ['-o', 'pid=,args=', '--ppid', String(pid)], { encoding: 'utf8' })
      .split('\n')
      .map((line) => /^\s*(\d+) (.*)$/.exec(line))
      .filter((match) => match !== null && match[2]!.startsWith(process.execPath))
      .map((match) => Number(match![1]))
  } catch {
    return [] // ps exits 1 when there is none
  }
}

/** Scrapes /metrics on fresh connections until `count` distinct processes answered: per process, its sample lines. */
async function scrapeWorkers(base: string, count: number): Promise<Map<string, Map<string, number>>> {
  const seen = new Map<string, Map<string, number>>()
  for (let i = 0; i < 40 && seen.size < count; i++) {
    const { text } = await fresh(base, 'GET', '/metrics')
    const samples = new Map<string, number>()
    for (const line of text.split('\n')) {
      const match = /^(\S+) (\S+)$/.exec(line)
      if (match && !line.startsWith('#')) samples.set(match[1]!, Number(match[2]))
    }
    seen.set(String(samples.get('process_start_time_seconds')), samples)
  }
  return seen
}

/** Requests a process counted for `route` (every method and status). */
const served = (samples: Map<string, number>, route: string): number =>
  [...samples].filter(([series]) => series.startsWith('federate_http_requests_total{') && series.includes(`route="${route}"`)).reduce((n, [, v]) => n + v, 0)

describe('scale: WORKERS=2 on one PostgreSQL', () => {
  let postgres: TestPostgres
  let issuer: LocalOidcIssuer
  let server: ServerProcess
  let adminToken: string

  beforeAll(async () => {
    ;[postgres, issuer] = await Promise.all([startPostgres(), LocalOidcIssuer.start()])
    server = await startServerProcess({
      issuerUrl: issuer.url,
      // ADMIN_TOKEN empty: the primary generates one, and every worker must accept it.
      env: { WORKERS: '2', DATABASE_URL: postgres.url, ADMIN_TOKEN: '', RATE_LIMIT_BURST: String(RATE_BURST), RATE_LIMIT_PER_MINUTE: '1' }
    })
    adminToken = /admin token \(generated[^:]*: (\S+)/.exec(server.output())![1]!
  }, 120_000)
  afterAll(async () => {
    await server?.stop()
    await issuer?.close()
    await postgres?.stop()
  })

  const mint = (identity: ReturnType<typeof repo>, audience: string): Promise<string> => issuer.mint({ audience, claims: githubClaims(identity) })

  it('prints one banner with the port and the worker count, and the generated admin token once', () => {
    const output = server.output()
    expect(output.match(/federate server listening on/g)).toHaveLength(1)
    expect(output).toContain(`federate server listening on ${server.url}\n2 workers\ndatabase: PostgreSQL (DATABASE_URL)\n`)
    expect(output.match(/admin token/g)).toHaveLength(1)
    expect(server.url).not.toMatch(/:0$/)
    expect(workerPids(server.pid)).toHaveLength(2)
  })

  it('serves from both workers on the one port, and both accept the generated admin token', async () => {
    const answers = await Promise.all(Array.from({ length: 10 }, () => fresh(server.url, 'GET', '/api/v1/oidc/trust-policies', { token: adminToken })))
    expect(answers.map((a) => a.status)).toEqual(Array(10).fill(200))
    const workers = await scrapeWorkers(server.url, 2)
    expect(workers.size).toBe(2)
    for (const samples of workers.values()) {
      expect(served(samples, '/api/v1/oidc/trust-policies')).toBeGreaterThan(0)
      expect(samples.get('federate_http_requests_total{route="/api/v1/oidc/trust-policies",method="GET",status="401"}')).toBeUndefined()
    }
  })

  it('the per-repository rate limit is one bucket for all workers', async () => {
    const identity = repo('workers-limit')
    const tokens = await Promise.all(Array.from({ length: RATE_BURST + 10 }, () => mint(identity, 'persql')))
    const answers = await Promise.all(tokens.map((token) => fresh(server.url, 'POST', '/v1/identity/federate', { token })))
    const statuses = answers.map((a) => a.status)
    expect(statuses.filter((s) => s === 200 || s === 201)).toHaveLength(RATE_BURST)
    expect(statuses.filter((s) => s === 429)).toHaveLength(10)
    const workers = await scrapeWorkers(server.url, 2)
    for (const samples of workers.values()) expect(served(samples, '/v1/identity/federate')).toBeGreaterThan(0)
  })

  it('20 concurrent first federations of one repository across workers: one created:true', async () => {
    const identity = repo('workers-race')
    const tokens = await Promise.all(Array.from({ length: 20 }, () => mint(identity, 'persql')))
    const answers = await Promise.all(tokens.map((token) => fresh(server.url, 'POST', '/v1/identity/federate', { token })))
    expect(answers.map((a) => a.status).filter((s) => s !== 200 && s !== 201)).toEqual([])
    expect(answers.filter((a) => a.body.data.created === true)).toHaveLength(1)
    expect(new Set(answers.map((a) => a.body.data.namespace)).size).toBe(1)
  })

  it('the same Idempotency-Key racing across workers answers the first response to all', async () => {
    const identity = repo('workers-idem')
    expect((await fresh(server.url, 'POST', '/api/v1/oidc/trust-policies', { token: adminToken, body: { provider: 'github', repository: identity.repository } })).status).toBe(
      201
    )
    const exchange = await fresh(server.url, 'POST', '/api/v1/oidc/token', { body: { provider: 'github', token: await mint(identity, server.url) } })
    expect(exchange.status).toBe(200)
    const answers = await Promise.all(
      Array.from({ length: 10 }, () =>
        fresh(server.url, 'POST', '/api/v1/agents', {
          token: exchange.body.access_token,
          headers: { 'idempotency-key': 'workers-key' },
          body: { name: `idem-${identity.repositoryId}@workers.example` }
        })
      )
    )
    expect(new Set(answers.map((a) => a.status))).toEqual(new Set([201]))
    expect(new Set(answers.map((a) => a.text)).size).toBe(1)
  })

  it('a killed worker is replaced on the same port, which keeps answering', async () => {
    const before = workerPids(server.pid)
    const starts = new Set((await scrapeWorkers(server.url, 2)).keys())
    process.kill(before[0]!, 'SIGKILL')
    // Once the primary saw the death, the other worker takes every connection until the
    // replacement listens (one handed to the dying worker before that is lost with it).
    await waitFor(() => /exited with signal SIGKILL; starting another in \d+ ms/.test(server.output()), {
      timeoutMs: 30_000,
      intervalMs: 20,
      what: 'the primary to see the death'
    })
    const during = await Promise.all(Array.from({ length: 5 }, () => fresh(server.url, 'GET', '/healthz')))
    expect(during.map((a) => a.status)).toEqual(Array(5).fill(200))
    await waitFor(() => /replaced the one that died/.test(server.output()), { timeoutMs: 60_000, intervalMs: 100, what: 'a replacement worker' })
    const after = workerPids(server.pid)
    expect(after).toHaveLength(2)
    expect(after).not.toContain(before[0])
    expect(after).toContain(before[1])
    const answers = await Promise.all(Array.from({ length: 10 }, () => fresh(server.url, 'GET', '/healthz')))
    expect(answers.map((a) => a.status)).toEqual(Array(10).fill(200))
    const now = new Set((await scrapeWorkers(server.url, 2)).keys())
    expect(now.size).toBe(2)
    expect([...now].filter((start) => !starts.has(start))).toHaveLength(1)
  }, 90_000)

  it('SIGTERM stops every worker, then the primary, with exit code 0', async () => {
    const pids = workerPids(server.pid)
    expect(pids).toHaveLength(2)
    server.kill('SIGTERM')
    expect(await server.exited).toBe(0)
    for (const pid of pids) expect(() => process.kill(pid, 0)).toThrow()
    await expect(fresh(server.url, 'GET', '/healthz')).rejects.toThrow()
  }, 30_000)
})

describe('scale: WORKERS without PostgreSQL', () => {
  it('WORKERS=2 without DATABASE_URL stops at start with exit code 2 and says why', () => {
    const env: Record<string, string> = {}
    for (const [key, value] of Object.entries({ ...process.env, NODE_OPTIONS: undefined, DATABASE_URL: undefined, WORKERS: '2', PORT: '0', HOST: '127.0.0.1' })) {
      if (value !== undefined) env[key] = value
    }
    const run = spawnSync(process.execPath, ['--import', 'tsx', 'shared/server/main.ts'], { cwd: REPO_ROOT, env, encoding: 'utf8', timeout: 60_000 })
    expect(run.status).toBe(2)
    expect(run.stderr).toContain('WORKERS > 1 needs DATABASE_URL: the embedded database belongs to one process')
    expect(run.stdout).toBe('')
  }, 60_000)
})
