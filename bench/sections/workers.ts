/**
 * 9. WORKERS on PostgreSQL: the agent-scoped exchange at 16 connections against one server
 * process and against WORKERS=2, both servers up at once and their runs alternated, so that
 * whatever else the machine does falls on both alike. Beside each figure: the load generator's
 * own CPU, the servers' and PostgreSQL's (a 2-core machine running 2 workers and the generator has more busy
 * processes than cores, so the figures compare within the run, not against a core count) and
 * the 1-minute load average when the run ended.
 */
import type { TestPostgres } from '../../shared/testing/postgres'
import { startBenchServer, type BenchServer } from '../lib/bench-server'
import { runLoad } from '../lib/load'
import type { LoadResult } from '../lib/load-protocol'
import { loadAverage } from '../lib/machine'
import type { TokenMinter } from '../lib/minter'
import { postmasterPid, treeCpuSeconds } from '../lib/proc'
import { fmt, median } from '../lib/stats'
import type { ResultTable } from '../lib/table'
import { exchangeBodies, exchangeRun, prepareAgent } from './server-load'

export interface WorkersPlan {
  /** Timed runs per server, alternated. */
  runs: number
  amount: number
  connections: number
  workers: number[]
}

interface Sample {
  result: LoadResult
  /** Server CPU (all its processes) per wall second of the run, in cores; PostgreSQL's (all its backends) likewise. */
  serverCores: number
  databaseCores: number
  load: number
}

export async function workersSection(table: ResultTable, postgres: TestPostgres, minter: TokenMinter, plan: WorkersPlan): Promise<void> {
  const section = `9. WORKERS (PostgreSQL, exchange at ${plan.connections} conn)`
  const postmaster = postmasterPid(postgres.port)
  const databaseCpu = (): number => (postmaster === undefined ? Number.NaN : treeCpuSeconds(postmaster))
  const servers: Array<{ workers: number; server: BenchServer; agentId: string; samples: Sample[] }> = []
  try {
    for (const workers of plan.workers) {
      const server = await startBenchServer({ issuerUrls: minter.issuerUrls, databaseUrl: postgres.url, env: { WORKERS: String(workers) } })
      servers.push({ workers, server, agentId: await prepareAgent(server, minter, `bench-workers-${workers}@agents.example`), samples: [] })
    }
    // Warm-up: JIT in every worker, JWKS fetch, database caches.
    for (const s of servers) await exchangeRun(s.server, minter, s.agentId, plan.connections, 2000)
    for (let r = 0; r < plan.runs; r++) {
      for (const s of servers) {
        // Minted first: the server's CPU is counted over the load alone.
        const bodies = await exchangeBodies(minter, s.server.url, s.agentId, plan.amount + 2 * plan.connections)
        const cpuBefore = treeCpuSeconds(s.server.pid)
        const databaseBefore = databaseCpu()
        const started = performance.now()
        const result = await runLoad({ url: s.server.url, path: '/api/v1/oidc/token', connections: plan.connections, amount: plan.amount, bodies })
        const wall = (performance.now() - started) / 1000
        const serverCores = (treeCpuSeconds(s.server.pid) - cpuBefore) / wall
        s.samples.push({ result, serverCores, databaseCores: (databaseCpu() - databaseBefore) / wall, load: loadAverage() })
      }
    }
  } finally {
    await Promise.all(servers.map((s) => s.server.stop()))
  }
  const base = median(servers[0]!.samples.map((s) => s.result.requestsPerSecond))
  for (const { workers, samples } of servers) {
    const rps = median(samples.map((s) => s.result.requestsPerSecond))
    const failures = samples.reduce((n, s) => n + s.result.errors + s.result.timeouts + s.result.non2xx + s.result.reusedTokens, 0)
    // Cores busy, and the CPU milliseconds each exchange cost.
    const cores = (values: number[]): string => `${median(values).toFixed(2)} (${((median(values) / rps) * 1000).toFixed(2)} ms)`
    const generator = median(samples.map((s) => (s.result.cpuMs ?? Number.NaN) / (s.result.wallMs ?? Number.NaN)))
    table.add({
      section,
      metric: `WORKERS=${workers}: exchanges/s, p50 / p99 (${samples.length} x ${plan.amount} req, ${failures} failed)`,
      value: `${fmt(rps)} req/s, ${fmt(median(samples.map((s) => s.result.p50Ms)), 'ms')} / ${fmt(median(samples.map((s) => s.result.p99Ms)), 'ms')}`,
      reference: `WORKERS=${servers[0]!.workers}: ${fmt(base)} req/s`,
      ratio: `${(rps / base).toFixed(2)}x`
    })
    table.add({
      section,
      metric: `WORKERS=${workers}: CPU during the runs (cores busy, and ms per exchange); 1-min load average after each run`,
      value: `load generator ${generator.toFixed(2)} (${((generator / rps) * 1000).toFixed(2)} ms), server ${cores(samples.map((s) => s.serverCores))}, PostgreSQL ${cores(samples.map((s) => s.databaseCores))}; load ${samples.map((s) => s.load.toFixed(1)).join(', ')}`
    })
  }
}
