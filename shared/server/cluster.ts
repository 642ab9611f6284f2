/**
 * WORKERS > 1: this process becomes a node:cluster primary that runs no server itself. It forks
 * the workers (each runs main.ts as a whole server on the same port: the primary holds the
 * listening socket and hands connections out), prints one banner once every worker listens,
 * replaces a worker that dies (with a backoff), and passes SIGTERM/SIGINT on for a graceful
 * shutdown of all. Workers share what matters through PostgreSQL (config.ts refuses WORKERS > 1
 * without DATABASE_URL): keys, rate limits, idempotency keys, workspaces.
 */
import cluster, { type Worker } from 'node:cluster'
import { createServer } from 'node:net'
import { resolvePublicUrl, type ServerConfig } from './config'

/** What a worker tells the primary once it listens. */
interface ListeningMessage {
  federate: 'listening'
  port: number
}

const isListening = (message: unknown): message is ListeningMessage =>
  typeof message === 'object' && message !== null && (message as ListeningMessage).federate === 'listening'

/** True in a process forked by runPrimary: it reports to the primary instead of printing a banner. */
export const isClusterWorker = (): boolean => cluster.isWorker

/** Called by a worker once it listens. */
export function reportListening(port: number): void {
  const message: ListeningMessage = { federate: 'listening', port }
  process.send?.(message)
}

/** Restart delays: the first replacement is quick, a worker that keeps dying waits longer each time. */
const BACKOFF_MIN_MS = 100
const BACKOFF_MAX_MS = 30_000
/** A worker that served this long resets the backoff: its death was not part of a crash loop. */
const STABLE_MS = 30_000
const SHUTDOWN_GRACE_MS = 15_000

export async function runPrimary(config: ServerConfig): Promise<void> {
  // PORT=0: every worker must listen on the same port, and a replacement on the one the others
  // serve, so the port is chosen here once (the primary's shared handle is keyed by the port
  // asked for, and one asked for as 0 would close, and change, when its last worker died).
  const port = config.port === 0 ? await freePort(config.host) : config.port
  const env = { PORT: String(port), ADMIN_TOKEN: config.adminToken }
  const url = resolvePublicUrl(config, port)

  let closing = false
  let exitCode = 0
  let started = false
  let failures = 0
  /** Workers not yet exited, with when each was forked (cluster.workers may still list one that exited). */
  const live = new Map<Worker, number>()
  const waiting = new Set<Worker>()

  const fork = (): Worker => {
    const worker = cluster.fork(env)
    live.set(worker, Date.now())
    waiting.add(worker)
    worker.on('message', (message: unknown) => {
      if (!isListening(message)) return
      waiting.delete(worker)
      if (message.port !== port) {
        // Cannot happen with the port fixed above; refuse rather than serve two ports.
        process.stderr.write(`federate server: worker ${worker.process.pid} listens on ${message.port}, not ${port}; stopping\n`)
        void shutdown('port mismatch', 1)
        return
      }
      if (!started && waiting.size === 0) {
        started = true
        banner(config, url, port)
      } else if (started) {
        process.stderr.write(`federate server: worker ${worker.process.pid} replaced the one that died\n`)
      }
    })
    return worker
  }

  cluster.on('exit', (worker, code, signal) => {
    const lived = Date.now() - (live.get(worker) ?? Date.now())
    live.delete(worker)
    waiting.delete(worker)
    if (closing) {
      // A worker that did not close cleanly makes the whole exit a failure (a start-up failure keeps its own code).
      if (code !== 0 && exitCode === 0) exitCode = 1
      if (live.size === 0) process.exit(exitCode)
      return
    }
    const how = signal ? `signal ${signal}` : `code ${code}`
    if (!started) {
      // Failing before every worker listened is a failed start (bad database, bad setting):
      // the same exit as one process, not a restart loop.
      process.stderr.write(`federate server: worker ${worker.process.pid} exited with ${how} during start-up; stopping\n`)
      void shutdown('start-up failure', code === 2 ? 2 : 1)
      return
    }
    failures = lived >= STABLE_MS ? 0 : failures + 1
    const delay = Math.min(BACKOFF_MAX_MS, BACKOFF_MIN_MS * 2 ** Math.max(0, failures - 1))
    process.stderr.write(`federate server: worker ${worker.process.pid} exited with ${how}; starting another in ${delay} ms\n`)
    setTimeout(() => {
      if (!closing) fork()
    }, delay)
  })

  const shutdown = async (reason: string, code: number): Promise<void> => {
    if (closing) return
    closing = true
    exitCode = code
    const workers = [...live.keys()]
    if (workers.length === 0) process.exit(code)
    // Each worker closes itself (stops listening, finishes its requests, closes its pool).
    for (const worker of workers) worker.process.kill('SIGTERM')
    const force = setTimeout(() => {
      process.stderr.write(`federate server: workers still running ${SHUTDOWN_GRACE_MS} ms after ${reason}; killing them\n`)
      for (const worker of live.keys()) worker.process.kill('SIGKILL')
      process.exit(1)
    }, SHUTDOWN_GRACE_MS)
    force.unref()
  }
  process.once('SIGTERM', () => void shutdown('SIGTERM', 0))
  process.once('SIGINT', () => void shutdown('SIGINT', 0))

  for (let i = 0; i < config.workers; i++) fork()
}

/** One write, so a reader never sees part of it (the same lines as one process, plus the count). */
function banner(config: ServerConfig, url: string, port: number): void {
  const lines = [`federate server listening on ${url}`]
  if (config.publicUrl) lines.push(`bound to ${config.host}:${port}`)
  lines.push(`${config.workers} workers`, 'database: PostgreSQL (DATABASE_URL)')
  if (config.adminTokenGenerated) lines.push(`admin token (generated, shown once; set ADMIN_TOKEN to choose one): ${config.adminToken}`)
  if (!config.signingKeysSecret) {
    process.stderr.write('federate server: warning: private signing keys are stored unencrypted in the database; set SIGNING_KEYS_SECRET to encrypt them\n')
  }
  process.stdout.write(`${lines.join('\n')}\n`)
}

/** A port free on `host` a moment ago (another process may take it before the workers bind). */
function freePort(host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, host, () => {
      const address = server.address()
      const port = typeof address === 'object' && address ? address.port : 0
      server.close(() => resolve(port))
    })
  })
}
