/**
 * The reference server as the bench runs it: a real server process (shared/testing's
 * startServerProcess), rate limits raised so that they never interfere with a load run,
 * optionally with --cpu-prof.
 */
import { startServerProcess, type ServerProcess } from '../../shared/testing/server-process'
import { AdminApi } from '../../shared/testing/admin-api'
import { fileURLToPath } from 'node:url'

const PROFILER = fileURLToPath(new URL('./cpu-profiler-preload.mjs', import.meta.url))

export interface BenchServerOptions {
  issuerUrls: string[]
  databaseUrl?: string
  dataDir?: string
  /** Write a V8 CPU profile into this directory when the server exits. */
  cpuProfileDir?: string
  /** More server environment (e.g. WORKSPACE_MAX_OPEN). */
  env?: Record<string, string>
}

export interface BenchServer extends ServerProcess {
  admin: AdminApi
}

export async function startBenchServer(options: BenchServerOptions): Promise<BenchServer> {
  const server = await startServerProcess({
    issuerUrl: options.issuerUrls.join(','),
    dataDir: options.dataDir,
    env: {
      OIDC_ISSUERS: options.issuerUrls.join(','),
      RATE_LIMIT_BURST: '1000000',
      RATE_LIMIT_PER_MINUTE: '10000000',
      LOG_LEVEL: 'warn',
      DATABASE_URL: options.databaseUrl,
      // --cpu-prof is refused in NODE_OPTIONS; a preload starts the profiler instead.
      NODE_OPTIONS: options.cpuProfileDir ? `--import=${PROFILER}` : undefined,
      BENCH_CPU_PROFILE_DIR: options.cpuProfileDir,
      ...options.env
    }
  })
  return Object.assign(server, { admin: new AdminApi(server.url, server.adminToken) })
}
