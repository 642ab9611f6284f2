/**
 * `npm run soak [-- --minutes 10] [--workers 12]`: three reference-server processes on one
 * throw-away PostgreSQL, on loopback, under mixed traffic from a fixed number of workers (each
 * waits for its answer: bounded concurrency). Prints requests, statuses, 5xx (must be zero),
 * latency percentiles and each instance's RSS at start and end; exits 1 on any 5xx or
 * connection error. Default 60 s (a smoke); the real soak is --minutes 10.
 */
import { readFileSync } from 'node:fs'
import { parseArgs } from 'node:util'
import { githubClaims, type RepoIdentity } from '../shared/testing/oidc-issuer'
import { admin, call, Cluster, repo, type Answer } from '../__tests__/scale/cluster'

const { values } = parseArgs({
  options: {
    minutes: { type: 'string' },
    seconds: { type: 'string' },
    workers: { type: 'string', default: '12' },
    repos: { type: 'string', default: '20' }
  }
})
const durationMs = values.minutes ? Number(values.minutes) * 60_000 : Number(values.seconds ?? '60') * 1000
const workers = Number(values.workers)
const repoCount = Number(values.repos)
if (!(durationMs > 0) || !(workers > 0) || !(repoCount > 0)) {
  process.stderr.write('usage: npm run soak -- [--minutes N | --seconds N] [--workers N] [--repos N]\n')
  process.exit(2)
}

interface Tenant {
  identity: RepoIdentity
  agentId: string
  agentName: string
  workspaceUrl?: string
  workspaceToken?: string
  accessToken?: string
}

/** Resident set size of a process, MiB (Linux). */
function rssMiB(pid: number): number {
  const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
  return match ? Math.round(Number(match[1]) / 102.4) / 10 : NaN
}

/** A string in a JSON answer, by path ('' when it is not there): the few fields the soak reads. */
function str(body: unknown, ...path: string[]): string {
  let value = body
  for (const key of path) value = value !== null && typeof value === 'object' ? (value as Record<string, unknown>)[key] : undefined
  return typeof value === 'string' ? value : ''
}

function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return NaN
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!
}

async function main(): Promise<void> {
  process.stdout.write(`soak: starting PostgreSQL and 3 server instances (${Math.round(durationMs / 1000)} s, ${workers} workers, ${repoCount} repositories)\n`)
  // Generous limits: the soak measures stability, not the limiter (429s would still be counted).
  const cluster = await Cluster.start({ env: { RATE_LIMIT_BURST: '100000', RATE_LIMIT_PER_MINUTE: '1000000' } })
  const stop = async (): Promise<void> => {
    await cluster.stop()
  }
  process.once('SIGINT', () => void stop().then(() => process.exit(130)))
  try {
    await run(cluster)
  } finally {
    await stop()
  }
}

async function run(cluster: Cluster): Promise<void> {
  const urls = cluster.instances.map((i) => i.url)
  let next = 0
  const pick = (): string => urls[next++ % urls.length]!

  // OIDC tokens are minted once a minute per repository and audience (GitHub's are reused
  // within a job too); the server refuses them after 6 minutes.
  const minted = new Map<string, { token: string; at: number }>()
  const oidc = async (identity: RepoIdentity, audience: 'agents' | 'federate'): Promise<string> => {
    const key = `${identity.repositoryId}:${audience}`
    const cached = minted.get(key)
    if (cached && Date.now() - cached.at < 60_000) return cached.token
    const token = await cluster.issuer.mint({ audience: audience === 'agents' ? cluster.publicUrl : 'persql', claims: githubClaims(identity) })
    minted.set(key, { token, at: Date.now() })
    return token
  }

  // Set-up: per repository a bootstrap policy, an agent, its agent policy.
  const tenants: Tenant[] = []
  for (let i = 0; i < repoCount; i++) {
    const identity = repo('soak')
    const agentName = `soak-${identity.repositoryId}@soak.example`
    await admin(urls[0]!, 'POST', '/api/v1/oidc/trust-policies', { provider: 'github', repository: identity.repository })
    const bootstrap = await call(pick(), 'POST', '/api/v1/oidc/token', { body: { provider: 'github', token: await oidc(identity, 'agents') } })
    const registered = await call(pick(), 'POST', '/api/v1/agents', { token: str(bootstrap.body, 'access_token'), body: { name: agentName } })
    if (registered.status !== 201) throw new Error(`set-up failed: register answered ${registered.status}`)
    await admin(urls[0]!, 'POST', '/api/v1/oidc/trust-policies', { provider: 'github', repository: identity.repository, agentId: str(registered.body, 'agentId') })
    tenants.push({ identity, agentId: str(registered.body, 'agentId'), agentName, accessToken: str(bootstrap.body, 'access_token') })
  }

  const statuses = new Map<number, number>()
  const byOp = new Map<string, number>()
  let latencies = new Float64Array(1 << 16)
  let count = 0
  let fresh = 0
  const record = (op: string, started: number, answer: Answer): Answer => {
    const ms = performance.now() - started
    if (count === latencies.length) {
      const grown = new Float64Array(latencies.length * 2)
      grown.set(latencies)
      latencies = grown
    }
    latencies[count++] = ms
    statuses.set(answer.status, (statuses.get(answer.status) ?? 0) + 1)
    byOp.set(op, (byOp.get(op) ?? 0) + 1)
    return answer
  }

  // Mixed traffic: weights roughly what CI jobs do (federate and exchange dominate).
  const ops: Array<[string, number, (t: Tenant) => Promise<Answer>]> = [
    [
      'federate',
      25,
      async (t) => {
        const a = await call(pick(), 'POST', '/v1/identity/federate', { token: await oidc(t.identity, 'federate') })
        if (a.status < 300) {
          t.workspaceUrl = str(a.body, 'data', 'url')
          t.workspaceToken = str(a.body, 'data', 'token')
        }
        return a
      }
    ],
    ['federate-new', 3, async () => call(pick(), 'POST', '/v1/identity/federate', { token: await oidc(repo(`soak-new-${fresh++}`), 'federate') })],
    [
      'exchange-bootstrap',
      15,
      async (t) => {
        const a = await call(pick(), 'POST', '/api/v1/oidc/token', { body: { provider: 'github', token: await oidc(t.identity, 'agents') } })
        if (a.status < 300) t.accessToken = str(a.body, 'access_token')
        return a
      }
    ],
    [
      'exchange-agent',
      15,
      async (t) => call(pick(), 'POST', '/api/v1/oidc/token', { body: { provider: 'github', token: await oidc(t.identity, 'agents'), agentId: t.agentId } })
    ],
    ['register-again', 10, async (t) => call(pick(), 'POST', '/api/v1/agents', { token: t.accessToken, body: { name: t.agentName } })],
    ['introspect', 10, async (t) => admin(pick(), 'POST', '/api/v1/oauth/introspect', { token: t.accessToken })],
    ['workspace', 12, async (t) => (t.workspaceUrl ? call(pick(), 'GET', new URL(t.workspaceUrl).pathname, { token: t.workspaceToken }) : call(pick(), 'GET', '/healthz'))],
    ['jwks', 5, async () => call(pick(), 'GET', '/.well-known/jwks.json')],
    ['healthz', 5, async () => call(pick(), 'GET', '/healthz')]
  ]
  const totalWeight = ops.reduce((sum, [, w]) => sum + w, 0)
  const chooseOp = (): [string, (t: Tenant) => Promise<Answer>] => {
    let r = Math.random() * totalWeight
    for (const [name, w, fn] of ops) {
      if ((r -= w) < 0) return [name, fn]
    }
    return [ops[0]![0], ops[0]![2]]
  }

  const rss = () => cluster.instances.map((i) => rssMiB(i.process.pid))
  // Warm-up (JIT, pools) before the first RSS reading.
  const warmupEnd = Date.now() + Math.min(10_000, durationMs / 6)
  await Promise.all(
    Array.from({ length: workers }, async (_, w) => {
      for (let i = 0; Date.now() < warmupEnd; i++) {
        const t = tenants[(w + i) % tenants.length]!
        await chooseOp()[1](t)
      }
    })
  )
  const rssStart = rss()
  const rssMax = [...rssStart]
  const started = Date.now()
  const deadline = started + durationMs
  const sampler = setInterval(() => {
    rss().forEach((v, i) => (rssMax[i] = Math.max(rssMax[i]!, v)))
    const elapsed = Math.round((Date.now() - started) / 1000)
    const fivexx = [...statuses].filter(([s]) => s >= 500).reduce((n, [, c]) => n + c, 0)
    process.stdout.write(`  ${elapsed} s: ${count} requests, 5xx ${fivexx}, RSS ${rss().join(' / ')} MiB\n`)
  }, 30_000)

  await Promise.all(
    Array.from({ length: workers }, async (_, w) => {
      for (let i = 0; Date.now() < deadline; i++) {
        const t = tenants[(w * 7 + i) % tenants.length]!
        const [name, fn] = chooseOp()
        const t0 = performance.now()
        record(name, t0, await fn(t))
      }
    })
  )
  clearInterval(sampler)
  const elapsedMs = Date.now() - started
  const rssEnd = rss()
  rssEnd.forEach((v, i) => (rssMax[i] = Math.max(rssMax[i]!, v)))

  const sorted = latencies.slice(0, count).sort()
  const fivexx = [...statuses].filter(([s]) => s >= 500).reduce((n, [, c]) => n + c, 0)
  const network = statuses.get(0) ?? 0
  const ms = (v: number) => `${v.toFixed(1)} ms`
  const lines = [
    `soak: ${count} requests in ${(elapsedMs / 1000).toFixed(0)} s (${(count / (elapsedMs / 1000)).toFixed(0)}/s), ${workers} workers, 3 instances on PostgreSQL`,
    `  statuses: ${[...statuses]
      .sort(([a], [b]) => a - b)
      .map(([s, c]) => `${s === 0 ? 'network error' : s}: ${c}`)
      .join(', ')}`,
    `  operations: ${[...byOp].map(([op, c]) => `${op} ${c}`).join(', ')}`,
    `  5xx: ${fivexx}, connection errors: ${network}`,
    `  latency: p50 ${ms(percentile(sorted, 50))}, p95 ${ms(percentile(sorted, 95))}, p99 ${ms(percentile(sorted, 99))}, max ${ms(sorted[sorted.length - 1] ?? NaN)}`,
    ...cluster.instances.map((_, i) => `  instance ${i + 1} RSS: start ${rssStart[i]} MiB, end ${rssEnd[i]} MiB, max ${rssMax[i]} MiB`)
  ]
  process.stdout.write(`${lines.join('\n')}\n`)
  if (fivexx > 0 || network > 0) {
    process.stdout.write('soak: FAILED (5xx or connection errors)\n')
    process.exitCode = 1
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`soak failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`)
  process.exit(1)
})
