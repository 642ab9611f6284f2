/**
 * Pre-mints distinct, valid GitHub-like OIDC tokens before a load run, in one process per
 * core (RS256 signing is the slow part). All processes mint for one issuer (the first serves
 * it, the others share its key): identities are bound to their issuer on the server.
 *
 * The server refuses tokens issued more than 6 min (+60 s) ago, so callers mint in chunks
 * right before they use them.
 */
import { fork, type ChildProcess } from 'node:child_process'
import { availableParallelism } from 'node:os'
import { fileURLToPath } from 'node:url'
import type { RepoIdentity } from '../../shared/testing/oidc-issuer'
import type { MintReply, MintRequest, MinterMessage, SharedIssuer } from './minter-protocol'

export interface MintSpec {
  count: number
  audience: string
  identity: RepoIdentity
  /** Default 900 s (the server's 6 min iat rule is what bounds their use). */
  lifetimeSeconds?: number
  distinctRepositories?: boolean
}

const CHILD = fileURLToPath(new URL('./minter-child.ts', import.meta.url))

export class TokenMinter {
  private nextId = 1
  private nextOffset = 1
  private readonly pending = new Map<number, { resolve: (t: string[]) => void; reject: (e: Error) => void }>()

  private constructor(
    private readonly children: ChildProcess[],
    /** The issuer URL in a list (the server's OIDC_ISSUERS). */
    readonly issuerUrls: string[]
  ) {
    for (const child of children) {
      child.on('message', (reply: MintReply) => {
        const waiter = this.pending.get(reply.id)
        if (!waiter) return
        this.pending.delete(reply.id)
        if (reply.type === 'minted') waiter.resolve(reply.tokens)
        else waiter.reject(new Error(`minter failed: ${reply.error}`))
      })
    }
  }

  static async start(processes = availableParallelism()): Promise<TokenMinter> {
    const children: ChildProcess[] = []
    const spawn = (env?: Record<string, string>): Promise<MinterMessage> => {
      const child = fork(CHILD, [], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'], env: { ...process.env, ...env } })
      children.push(child)
      return new Promise<MinterMessage>((resolve, reject) => {
        child.once('message', (m: MinterMessage) => resolve(m))
        child.once('exit', (code) => reject(new Error(`minter exited with ${code} before it was ready`)))
      })
    }
    const first = await spawn()
    const shared: SharedIssuer = { url: first.url, signingKey: first.signingKey }
    await Promise.all(Array.from({ length: Math.max(1, processes) - 1 }, () => spawn({ MINTER_SHARED_ISSUER: JSON.stringify(shared) })))
    return new TokenMinter(children, [first.url])
  }

  /** `count` tokens, spread over the processes; distinct by jti (and by repository if asked). */
  async mint(spec: MintSpec): Promise<string[]> {
    const n = this.children.length
    const parts = await Promise.all(
      this.children.map((child, i) => {
        const count = Math.floor(spec.count / n) + (i < spec.count % n ? 1 : 0)
        const request: MintRequest = {
          id: this.nextId++,
          count,
          audience: spec.audience,
          identity: spec.identity,
          lifetimeSeconds: spec.lifetimeSeconds ?? 900,
          ...(spec.distinctRepositories ? { distinctRepositories: { prefix: `p${i}x${this.nextId}`, offset: this.reserve(count) } } : {})
        }
        return new Promise<string[]>((resolve, reject) => {
          this.pending.set(request.id, { resolve, reject })
          child.send(request)
        })
      })
    )
    return parts.flat()
  }

  /** Disjoint repository_id ranges across calls and processes. */
  private reserve(count: number): number {
    const offset = this.nextOffset
    this.nextOffset += count
    return offset
  }

  close(): void {
    for (const child of this.children) child.disconnect()
  }
}
