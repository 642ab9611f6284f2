/**
 * A bounded load of the writes that must survive a crash: first-time federations (fresh
 * repositories), bootstrap exchanges and agent registrations, spread over the given
 * instances by a few concurrent workers. Records every 2xx in an Acked list. Not a test file.
 */
import { createHash } from 'node:crypto'
import type { RepoIdentity } from '../../shared/testing/oidc-issuer'
import { WaitTimeoutError, waitFor } from '../../shared/testing/wait-for'
import { call } from './cluster'
import type { Acked } from './consistency'

/** The load registers a new agent per request: lift the per-repository registration limits it is not about. */
export const UNLIMITED_REGISTRATIONS = {
  AGENT_REGISTRATION_BURST: '1000000',
  AGENT_REGISTRATION_PER_MINUTE: '1000000',
  MAX_AGENTS_PER_REPOSITORY: '1000000'
}

export interface LoadTarget {
  /** Instances to spread over (a killed one answers status 0). */
  urls: () => string[]
  /** A GitHub OIDC token of `identity`: for the agent endpoints or for federate. */
  mint: (identity: RepoIdentity, audience: 'agents' | 'federate') => Promise<string>
  /** A repository with a bootstrap trust policy. */
  agentsRepo: RepoIdentity
  /** Fresh repository for each federation. */
  freshRepo: () => RepoIdentity
}

export interface LoadStats {
  ok: number
  /** Connection refused/reset (the killed instance). */
  network: number
  /** Other statuses, by code. */
  other: Record<number, number>
}

const sha256 = (text: string): string => createHash('sha256').update(text).digest('hex')

/** Runs `workers` loops until stop() and records acknowledged writes into `acked`. */
export function startLoad(target: LoadTarget, acked: Acked, workers = 8): { stats: LoadStats; stop: () => Promise<LoadStats> } {
  const stats: LoadStats = { ok: 0, network: 0, other: {} }
  let running = true
  let n = 0
  const count = (status: number): boolean => {
    if (status >= 200 && status < 300) stats.ok++
    else if (status === 0) stats.network++
    else stats.other[status] = (stats.other[status] ?? 0) + 1
    return status >= 200 && status < 300
  }
  const pick = (): string => {
    const urls = target.urls()
    return urls[n++ % urls.length]!
  }

  const worker = async (w: number): Promise<void> => {
    let bootstrap: string | undefined
    for (let i = 0; running; i++) {
      if (i % 2 === 0) {
        const identity = target.freshRepo()
        const res = await call(pick(), 'POST', '/v1/identity/federate', { token: await target.mint(identity, 'federate'), timeoutMs: 10_000 })
        if (count(res.status)) {
          acked.workspaces.push({ repositoryId: identity.repositoryId, namespace: res.body.data.namespace, tokenSha256: sha256(res.body.data.token) })
        }
      } else if (!bootstrap || i % 6 === 1) {
        const res = await call(pick(), 'POST', '/api/v1/oidc/token', {
          body: { provider: 'github', token: await target.mint(target.agentsRepo, 'agents') },
          timeoutMs: 10_000
        })
        if (count(res.status)) {
          bootstrap = res.body.access_token as string
          const payload = JSON.parse(Buffer.from(bootstrap.split('.')[1]!, 'base64url').toString('utf8')) as { jti: string }
          acked.credentials.push(payload.jti)
        }
      } else {
        const name = `crash-${process.pid}-${w}-${i}@load.example`
        const res = await call(pick(), 'POST', '/api/v1/agents', { token: bootstrap, body: { name }, timeoutMs: 10_000 })
        if (count(res.status)) acked.agents.push({ agentId: res.body.agentId, name })
      }
    }
  }
  const done = Promise.all(Array.from({ length: workers }, (_, w) => worker(w)))
  return {
    stats,
    async stop() {
      running = false
      await done
      return stats
    }
  }
}

/**
 * Waits until `ok` 2xx answers were counted, or `timeoutMs` passed: kill under real load, not
 * after a fixed sleep. Returns either way: the test stops the load, and its expectation on
 * stats.ok says how far it got.
 */
export async function untilAcknowledged(stats: LoadStats, ok: number, timeoutMs = 20_000): Promise<void> {
  await waitFor(() => stats.ok >= ok, { timeoutMs }).catch((error: unknown) => {
    if (!(error instanceof WaitTimeoutError)) throw error
  })
}
