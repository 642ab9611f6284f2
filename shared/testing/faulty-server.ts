/**
 * A small fault-injecting HTTP server on 127.0.0.1 that stands where the actions' `api-url`
 * points: per path it answers a scripted list of faults (503, 429 + Retry-After, a reset
 * mid-response, a connection that never answers, an HTML 500, malformed or incomplete JSON)
 * and then, by default, proxies to a real server for the success leg. Every request is
 * recorded with its arrival time so tests can count attempts and measure waits.
 */
import { createServer, request as httpRequest, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { Socket } from 'node:net'
import { listenLocal } from './ports'

export type Fault =
  /** Any status with a body (JSON unless contentType says otherwise). */
  | { kind: 'status'; status: number; body?: string; contentType?: string; headers?: Record<string, string> }
  /** Headers and half a JSON body, then the socket is destroyed (ECONNRESET / aborted). */
  | { kind: 'reset' }
  /** Accepts the request and never answers (until the test closes the server). */
  | { kind: 'hang' }
  /** Forwards to the upstream server. */
  | { kind: 'proxy' }

/** The faults the brief names, ready to script. */
export const faults = {
  unavailable: (): Fault => ({
    kind: 'status',
    status: 503,
    body: JSON.stringify({ error: 'temporarily_unavailable', error_description: 'starting up' })
  }),
  rateLimited: (retryAfterSeconds: number): Fault => ({
    kind: 'status',
    status: 429,
    headers: { 'retry-after': String(retryAfterSeconds) },
    body: JSON.stringify({ error: 'rate_limited', error_description: `retry in ${retryAfterSeconds} s` })
  }),
  reset: (): Fault => ({ kind: 'reset' }),
  hang: (): Fault => ({ kind: 'hang' }),
  html500: (): Fault => ({
    kind: 'status',
    status: 500,
    contentType: 'text/html; charset=utf-8',
    body: '<!doctype html><html><head><title>500 Internal Server Error</title></head><body><h1>Oops</h1></body></html>'
  }),
  malformedJson: (): Fault => ({ kind: 'status', status: 200, body: '{"access_token": "abc", "success": tru' }),
  /** A 200 that looks right but lacks the secret (both protocols' shapes). */
  missingToken: (): Fault => ({
    kind: 'status',
    status: 200,
    body: JSON.stringify({ token_type: 'Bearer', expires_in: 900, success: true, data: { namespace: 'x', database: 'main' } })
  }),
  proxy: (): Fault => ({ kind: 'proxy' })
}

export interface RecordedRequest {
  method: string
  path: string
  /** Date.now() when the request arrived. */
  at: number
  /** What was done with it. */
  fault: Fault['kind']
}

interface Plan {
  queue: Fault[]
  otherwise: Fault
}

export class FaultyServer {
  readonly requests: RecordedRequest[] = []
  private readonly plans = new Map<string, Plan>()
  private readonly sockets = new Set<Socket>()

  private constructor(
    private readonly server: Server,
    readonly url: string,
    private readonly upstream: string | undefined
  ) {}

  /** Listens on 127.0.0.1:0; `upstream` is the real server the `proxy` fault forwards to. */
  static async start(options: { upstream?: string } = {}): Promise<FaultyServer> {
    // Requests and connections come in only once `self` is set: nothing runs between the end of the await and it.
    const server = createServer((req, res) => void self.handle(req, res))
    const self = new FaultyServer(server, (await listenLocal(server)).url, options.upstream)
    server.on('connection', (socket) => {
      self.sockets.add(socket)
      socket.once('close', () => self.sockets.delete(socket))
    })
    return self
  }

  /**
   * Scripts `path` (exact, without query): the next requests get `queue` in order, every
   * later one `otherwise` (default: proxy to the upstream). Replaces an earlier plan.
   */
  plan(path: string, queue: Fault[], otherwise: Fault = faults.proxy()): void {
    this.plans.set(path, { queue: [...queue], otherwise })
  }

  /** Forgets every plan and recorded request (between scenarios). */
  reset(): void {
    this.plans.clear()
    this.requests.splice(0)
  }

  requestsTo(path: string): RecordedRequest[] {
    return this.requests.filter((r) => r.path === path)
  }

  async close(): Promise<void> {
    for (const socket of this.sockets) socket.destroy()
    await new Promise<void>((resolve) => this.server.close(() => resolve()))
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = (req.url ?? '/').split('?')[0]!
    const plan = this.plans.get(path)
    const fault = plan ? (plan.queue.shift() ?? plan.otherwise) : faults.proxy()
    this.requests.push({ method: req.method ?? 'GET', path, at: Date.now(), fault: fault.kind })
    const body = await readBody(req)
    switch (fault.kind) {
      case 'status':
        res.writeHead(fault.status, { 'content-type': fault.contentType ?? 'application/json', ...fault.headers })
        res.end(fault.body ?? '')
        return
      case 'reset':
        // Promise a long JSON body, send a piece, then drop the connection.
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': '4096' })
        res.write('{"access_token": "eyJhbGciOi')
        setTimeout(() => req.socket.destroy(), 20)
        return
      case 'hang':
        return // never answer; close() destroys the socket
      case 'proxy':
        return this.proxy(req, res, body)
    }
  }

  private proxy(req: IncomingMessage, res: ServerResponse, body: Buffer): void {
    if (!this.upstream) {
      res.writeHead(502, { 'content-type': 'application/json' }).end(JSON.stringify({ error: 'no_upstream' }))
      return
    }
    const target = new URL(req.url ?? '/', this.upstream)
    const headers = { ...req.headers, host: target.host, 'content-length': String(body.length) }
    delete headers['transfer-encoding']
    const upstream = httpRequest(target, { method: req.method, headers }, (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers)
      answer.pipe(res)
    })
    upstream.on('error', () => {
      if (!res.headersSent) res.writeHead(502, { 'content-type': 'application/json' })
      res.end(JSON.stringify({ error: 'bad_gateway' }))
    })
    upstream.end(body)
  }
}

function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = []
    req.on('data', (chunk: Buffer) => chunks.push(chunk))
    req.on('end', () => resolve(Buffer.concat(chunks)))
    req.on('error', () => resolve(Buffer.concat(chunks)))
  })
}
