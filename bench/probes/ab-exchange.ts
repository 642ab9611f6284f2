// Probe: A/B of the exchange endpoint between this tree and a patched copy of it (argv[2], a
// directory with the same layout and a node_modules symlink), on the embedded database (PG=1:
// PostgreSQL): both servers up at once, runs alternated, 16 connections, medians.
import { join } from 'node:path'
import { startPostgres } from '../../shared/testing/postgres'
import { startBenchServer as startHere, type BenchServer } from '../lib/bench-server'
import { TokenMinter } from '../lib/minter'
import { cpuMs } from '../lib/proc'
import { median } from '../lib/stats'
import { exchangeRun, prepareAgent } from '../sections/server-load'

const other = process.argv[2]!
const rounds = Number(process.argv[3] ?? 3)
const amount = Number(process.argv[4] ?? 3000)
const { startBenchServer: startThere } = (await import(join(other, 'bench/lib/bench-server.ts'))) as { startBenchServer: typeof startHere }
const pgA = process.env.PG ? await startPostgres({ maxConnections: 100 }) : undefined
const pgB = process.env.PG ? await startPostgres({ maxConnections: 100 }) : undefined
const minter = await TokenMinter.start()
const servers: Array<[string, BenchServer]> = [
  ['this tree', await startHere({ issuerUrls: minter.issuerUrls, databaseUrl: pgA?.url })],
  [other, await startThere({ issuerUrls: minter.issuerUrls, databaseUrl: pgB?.url })]
]
const agents = new Map<string, string>()
for (const [name, server] of servers) {
  agents.set(name, await prepareAgent(server, minter, 'ab@agents.example'))
  await exchangeRun(server, minter, agents.get(name)!, 16, 500)
}
const figures = new Map<string, { rps: number[]; p99: number[]; cpu: number[]; bad: number }>()
for (let r = 0; r < rounds; r++) {
  for (const [name, server] of servers) {
    const before = cpuMs(server.pid)
    const result = await exchangeRun(server, minter, agents.get(name)!, 16, amount)
    const f = figures.get(name) ?? { rps: [], p99: [], cpu: [], bad: 0 }
    f.cpu.push((cpuMs(server.pid) - before) / amount)
    f.rps.push(result.requestsPerSecond)
    f.p99.push(result.p99Ms)
    f.bad += result.errors + result.non2xx + result.timeouts
    figures.set(name, f)
  }
}
for (const [name, f] of figures)
  console.log(
    `${name}: server CPU ${median(f.cpu).toFixed(2)} ms per exchange, ${median(f.rps).toFixed(0)} req/s, p99 ${median(f.p99).toFixed(0)} ms, failures ${f.bad} (runs: ${f.rps.map((x) => x.toFixed(0)).join(', ')})`
  )
const [, copy] = servers[1]!
console.log(`audit events of the agent in the copy: ${(await copy.admin.audit(agents.get(other)!)).length}`)
for (const [, server] of servers) await server.stop()
minter.close()
await pgA?.stop()
await pgB?.stop()
