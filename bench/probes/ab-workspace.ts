// Probe: A/B of one embedded workspace's SQL (PG=1: PostgreSQL, a throw-away cluster per
// server) between this tree and a patched copy of it (argv[2], a directory with the same layout
// and a node_modules symlink): both servers up at once, one workspace each with 1,000 rows, alternated timed runs of point SELECT and
// single-row INSERT at 16 connections, medians. argv[3] = rounds, argv[4] = seconds per run.
import { join } from 'node:path'
import { startBenchServer as startHere, type BenchServer } from '../lib/bench-server'
import { TokenMinter } from '../lib/minter'
import { startPostgres } from '../../shared/testing/postgres'
import { median } from '../lib/stats'
import { prepareWorkspaces, sqlLoad, type Kind } from '../sections/workspaces'

const other = process.argv[2]!
const rounds = Number(process.argv[3] ?? 4)
const seconds = Number(process.argv[4] ?? 5)
const { startBenchServer: startThere } = (await import(join(other, 'bench/lib/bench-server.ts'))) as { startBenchServer: typeof startHere }
const minter = await TokenMinter.start()
const plan = { workspaces: 1, rows: 1000, runs: 1, connections: 16, loadSeconds: seconds, firstQueryRuns: 0, exchangeAmount: 0 }
const pgA = process.env.PG ? await startPostgres({ maxConnections: 100 }) : undefined
const pgB = process.env.PG ? await startPostgres({ maxConnections: 100 }) : undefined
const servers: Array<[string, BenchServer]> = [
  ['this tree', await startHere({ issuerUrls: minter.issuerUrls, databaseUrl: pgA?.url })],
  [other, await startThere({ issuerUrls: minter.issuerUrls, databaseUrl: pgB?.url })]
]
const workspaces = new Map<string, Awaited<ReturnType<typeof prepareWorkspaces>>>()
for (const [name, server] of servers) {
  workspaces.set(name, await prepareWorkspaces(server, minter, 1, plan.rows))
  await sqlLoad(server, workspaces.get(name)!, 'select', plan, 2) // warm-up
}
const figures = new Map<string, { rps: number[]; p50: number[]; p99: number[]; bad: number }>()
for (let r = 0; r < rounds; r++) {
  for (const kind of ['select', 'insert'] as Kind[]) {
    for (const [name, server] of servers) {
      const result = await sqlLoad(server, workspaces.get(name)!, kind, plan)
      const key = `${name} ${kind}`
      const f = figures.get(key) ?? { rps: [], p50: [], p99: [], bad: 0 }
      f.rps.push(result.requestsPerSecond)
      f.p50.push(result.p50Ms)
      f.p99.push(result.p99Ms)
      f.bad += result.errors + result.non2xx + result.timeouts
      figures.set(key, f)
    }
  }
}
for (const [key, f] of figures)
  console.log(
    `${key}: ${median(f.rps).toFixed(0)} req/s, p50 ${median(f.p50).toFixed(1)} ms, p99 ${median(f.p99).toFixed(1)} ms, failures ${f.bad} (runs: ${f.rps.map((x) => x.toFixed(0)).join(', ')})`
  )
for (const [, server] of servers) await server.stop()
minter.close()
await pgA?.stop()
await pgB?.stop()
