/**
 * `npm run server`: reads the configuration, opens the database, listens, and closes
 * gracefully on SIGTERM/SIGINT. Everything else lives in app.ts; with WORKERS > 1 this process
 * forks workers that each run all of this (cluster.ts).
 *
 * Start-up order: the database is opened first and the HTTP side (fastify, routes, jose)
 * is loaded while it opens: the embedded engine compiles its WebAssembly off the main
 * thread, so loading the rest meanwhile hides part of that wait (scripts/build-server.mjs
 * says how `npm run server` runs this file).
 */
import { availableParallelism } from 'node:os'
import { setFlagsFromString } from 'node:v8'
import { isClusterWorker, reportListening, runPrimary } from './cluster'
import { ConfigError, loadConfig, resolvePublicUrl } from './config'
import { openDatabase } from './store/open'

// Whatever this process creates (DATA_DIR, the embedded database's files) is its user's
// alone: the database holds the private signing keys. Before anything is created.
process.umask(0o077)

// The embedded engine is a large WebAssembly module. V8 compiles it, and later re-optimizes its
// hot functions, on as many background threads as it has: on a 2-core machine those threads
// and the main thread (which starts the engine and loads the HTTP side meanwhile) take turns,
// and start-up was slower than with one core left to the main thread (bench/ANALYSIS.md,
// "Server start-up"). This only caps how many compile jobs run at once; the compiled code is
// the same.
setFlagsFromString(`--wasm-num-compilation-tasks=${Math.max(1, availableParallelism() - 1)}`)

async function main(): Promise<void> {
  let config
  try {
    config = loadConfig(process.env)
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`federate server: bad configuration: ${error.message}\n`)
      process.exit(2)
    }
    throw error
  }
  // WORKERS > 1: this process only forks and watches the workers, which run the rest (cluster.ts).
  if (config.workers > 1 && !isClusterWorker()) return runPrimary(config)

  const opening = openDatabase({ databaseUrl: config.databaseUrl, dataDir: config.databaseUrl ? undefined : config.dataDir })
  // Handled by the await below; this only keeps a failure from being reported as unhandled
  // while the imports run.
  opening.catch(() => undefined)
  const [{ buildServer }, { createContext }, { loggerOptions }] = await Promise.all([import('./app'), import('./context'), import('./logging')])
  const db = await opening
  const context = await createContext({ config, db })
  const app = await buildServer(context, {
    logger: loggerOptions(config.logLevel)
  })

  await app.listen({ port: config.port, host: config.host })
  const address = app.server.address()
  const port = typeof address === 'object' && address ? address.port : config.port
  const url = resolvePublicUrl(config, port)
  context.setPublicUrl(url)

  let closing = false
  const shutdown = async (signal: string): Promise<void> => {
    if (closing) return
    closing = true
    app.log.info({ signal }, 'shutting down')
    const force = setTimeout(() => process.exit(1), 10_000)
    force.unref()
    try {
      await app.close()
      await db.close()
      process.exit(0)
    } catch (error) {
      app.log.error({ err: error }, 'error while shutting down')
      process.exit(1)
    }
  }
  // Before the banner: whoever reads it may signal at once, and a signal that arrives
  // before a handler exists kills the process mid-banner.
  process.once('SIGTERM', () => void shutdown('SIGTERM'))
  process.once('SIGINT', () => void shutdown('SIGINT'))

  // The primary prints the banner and the warnings once for all workers.
  if (isClusterWorker()) return reportListening(port)
  // One write, so a reader never sees part of it.
  const banner = [`federate server listening on ${url}`]
  if (config.publicUrl) banner.push(`bound to ${config.host}:${port}`)
  banner.push(db.kind === 'pglite' ? `data dir: ${config.dataDir} (embedded database)` : 'database: PostgreSQL (DATABASE_URL)')
  if (config.adminTokenGenerated) {
    banner.push(`admin token (generated, shown once; set ADMIN_TOKEN to choose one): ${config.adminToken}`)
  }
  if (!config.signingKeysSecret) {
    process.stderr.write('federate server: warning: private signing keys are stored unencrypted in the database; set SIGNING_KEYS_SECRET to encrypt them\n')
  }
  process.stdout.write(`${banner.join('\n')}\n`)
}

main().catch((error: unknown) => {
  // A setting found bad only once used (DATA_DIR open to other users): exit code 2 as well.
  if (error instanceof ConfigError) {
    process.stderr.write(`federate server: bad configuration: ${error.message}\n`)
    process.exit(2)
  }
  process.stderr.write(`federate server failed to start: ${error instanceof Error ? error.message : String(error)}\n`)
  process.exit(1)
})
