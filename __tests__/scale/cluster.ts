/**
 * Several reference-server processes on one PostgreSQL behind a tiny round-robin balancer,
 * as an operator scales out: one PUBLIC_URL (the balancer's origin, the issuer and audience
 * of every token), each instance on its own loopback port so tests and the soak can aim at a
 * chosen instance or kill one. Used by the scale tests and by scripts/soak.ts. Not a test file.
 */
import { createServer, request as httpRequest, type Server } from 'node:http'
import pg from 'pg'
import { call as callServer, type ApiResponse, type CallOptions } from '../../shared/testing/api-call'
import { githubClaims, LocalOidcIssuer, type RepoIdentity } from '../../shared/testing/oidc-issuer'
import { startPostgres, type TestPostgres } from '../../shared/testing/postgres'
import { freePort, listenLocal } from '../../shared/testing/ports'
import { startServerProcess, waitHealthy, type ServerProcess } from '../../shared/testing/server-process'

export const ADMIN_TOKEN = 'scale-admin-token-0123456789abcdef'

/** Round-robin HTTP proxy; a backend that refuses the connection is skipped for the next. */
export class Balancer {
  private next = 0
  private constructor(
    private readonly server: Server,
    readonly url: string,
    readonly backends: string[]
  ) {}

  static async start(backends: string[]): Promise<Balancer> {
    // Requests come in only once `self` is set: nothing runs between the end of the await and it.
    const server = createServer((req, res) => {
      const chunks: Buffer[] = []
      req.on('data', (c: Buffer) => chunks.push(c))
      req.on('end', () => {
        const body = Buffer.concat(chunks)
        const attempt = (tries: number): void => {
          const backend = self.backends[self.next++ % self.backends.length]!
          const upstream = httpRequest(new URL(req.url ?? '/', backend), { method: req.method, headers: req.headers }, (answer) => {
            res.writeHead(answer.statusCode ?? 502, answer.headers)
            answer.pipe(res)
          })
          upstream.on('error', () => {
            if (res.headersSent) return void res.destroy()
            if (tries + 1 < self.backends.length) return attempt(tries + 1)
            res.writeHead(502, { 'content-type': 'application/json' }).end('{"error":"no_backend"}')
          })
          upstream.end(body)
        }
        attempt(0)
      })
    })
    server.keepAliveTimeout = 1000
    const self = new Balancer(server, (await listenLocal(server)).url, backends)
    return self
  }

  async close(): Promise<void> {
    this.server.closeAllConnections()
    await new Promise<void>((resolve) => this.server.close(() => resolve()))
  }
}

export interface Instance {
  /** Its own loopback origin (not the public one). */
  url: string
  port: number
  process: ServerProcess
}

export interface ClusterOptions {
  instances?: number
  /** Extra server environment (rate limits ...). */
  env?: Record<string, string>
  maxConnections?: number
}

export class Cluster {
  readonly instances: Instance[] = []
  /** A pool for direct checks of what the servers stored. */
  readonly db: pg.Pool

  private constructor(
    readonly postgres: TestPostgres,
    readonly issuer: LocalOidcIssuer,
    readonly balancer: Balancer,
    private readonly env: Record<string, string>
  ) {
    this.db = new pg.Pool({ connectionString: postgres.url, max: 4 })
    this.db.on('error', () => undefined)
  }

  /** The origin every instance presents (PUBLIC_URL): audience and issuer of its tokens. */
  get publicUrl(): string {
    return this.balancer.url
  }

  static async start(options: ClusterOptions = {}): Promise<Cluster> {
    const count = options.instances ?? 3
    const [postgres, issuer] = await Promise.all([startPostgres({ maxConnections: options.maxConnections }), LocalOidcIssuer.start()])
    const ports: number[] = []
    for (let i = 0; i < count; i++) ports.push(await freePort())
    const balancer = await Balancer.start(ports.map((port) => `http://127.0.0.1:${port}`))
    const cluster = new Cluster(postgres, issuer, balancer, {
      DATABASE_URL: postgres.url,
      PUBLIC_URL: balancer.url,
      ADMIN_TOKEN,
      ...options.env
    })
    try {
      // All at once: migrations and the first signing key must survive the race.
      const started = await Promise.all(ports.map((port) => cluster.spawn(port)))
      cluster.instances.push(...started)
    } catch (error) {
      await cluster.stop()
      throw error
    }
    return cluster
  }

  private async spawn(port: number): Promise<Instance> {
    const process = await startServerProcess({ issuerUrl: this.issuer.url, env: { ...this.env, PORT: String(port) } })
    const url = `http://127.0.0.1:${port}`
    await waitHealthy(url, 30_000)
    return { url, port, process }
  }

  /** kill -9 instance i and wait until the process is gone. */
  async kill(i: number): Promise<void> {
    const instance = this.instances[i]!
    instance.process.kill('SIGKILL')
    await instance.process.exited
  }

  /** Starts instance i again on its port (after kill). */
  async restart(i: number): Promise<void> {
    const old = this.instances[i]!
    await old.process.stop()
    this.instances[i] = await this.spawn(old.port)
  }

  /** A GitHub OIDC token of `identity` for the agent endpoints (aud = PUBLIC_URL) or federate. */
  mint(identity: RepoIdentity, audience: 'agents' | 'federate'): Promise<string> {
    return this.issuer.mint({ audience: audience === 'agents' ? this.publicUrl : 'persql', claims: githubClaims(identity) })
  }

  async stop(): Promise<void> {
    await Promise.all(this.instances.map((i) => i.process.stop().catch(() => undefined)))
    await this.db.end().catch(() => undefined)
    await this.balancer.close()
    await this.issuer.close()
    await this.postgres.stop()
  }
}

let counter = 0
/** A fresh repository identity (distinct repository_id), so scenarios never share a bucket or a workspace. */
export function repo(label: string): RepoIdentity {
  counter++
  const n = `${process.pid}${String(counter).padStart(4, '0')}`
  return { repository: `scale/${label}-${n}`, repositoryId: `7${n}`, ownerId: '7777' }
}

export type Answer = ApiResponse

/** One call (shared/testing/api-call), 30 s at most by default; network failures (a killed instance) come back as status 0. */
export async function call(base: string, method: string, path: string, options: CallOptions = {}): Promise<Answer> {
  try {
    return await callServer(base, method, path, { timeoutMs: 30_000, ...options })
  } catch {
    return { status: 0, headers: new Headers(), body: undefined, text: '' }
  }
}

export const admin = (base: string, method: string, path: string, body?: unknown): Promise<Answer> => call(base, method, path, { token: ADMIN_TOKEN, body })
