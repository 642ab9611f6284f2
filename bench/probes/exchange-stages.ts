// Probe: where the server's CPU goes per exchange, by stage (bench/lib/cpu-stages.ts), on the
// embedded database (PG=1: PostgreSQL), beside the HTTP floor's CPU per request in the same run.
// argv[2] = exchanges in the measured run (after a warm-up of 1,000).
import { mkdtempSync, readdirSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { startBenchServer } from '../lib/bench-server'
import { stageBreakdown } from '../lib/cpu-stages'
import { runLoad } from '../lib/load'
import { TokenMinter } from '../lib/minter'
import { cpuMs } from '../lib/proc'
import { startPostgres } from '../../shared/testing/postgres'
import { exchangeBodies, exchangeRun, prepareAgent, startHttpFloor } from '../sections/server-load'

const amount = Number(process.argv[2] ?? 10_000)
const warmUp = 1000

/** The HTTP floor server's CPU per request over the same load (no profiler: it adds its own cost). */
async function floorCpuPerRequest(minter: TokenMinter): Promise<{ ms: number; rps: number }> {
  const { child, url } = await startHttpFloor()
  const run = async (n: number) => runLoad({ url, path: '/api/v1/oidc/token', connections: 16, amount: n, bodies: await exchangeBodies(minter, url, 'x', n + 32) })
  await run(warmUp)
  const before = cpuMs(child.pid!)
  const result = await run(amount)
  const ms = (cpuMs(child.pid!) - before) / amount
  child.kill('SIGTERM')
  return { ms, rps: result.requestsPerSecond }
}

const pg = process.env.PG ? await startPostgres({ maxConnections: 100 }) : undefined
const minter = await TokenMinter.start()
const dataDir = pg ? undefined : mkdtempSync(join(tmpdir(), 'stages-data-'))
// The data dir is created by a first start, unmeasured (initdb is not the steady state).
if (dataDir) await (await startBenchServer({ issuerUrls: minter.issuerUrls, dataDir })).stop()

// 1. Unprofiled: the server's CPU per exchange as the bench sees it.
const plain = await startBenchServer({ issuerUrls: minter.issuerUrls, databaseUrl: pg?.url, dataDir })
const plainAgent = await prepareAgent(plain, minter, 'stages@agents.example')
await exchangeRun(plain, minter, plainAgent, 16, warmUp)
const before = { all: cpuMs(plain.pid), main: cpuMs(plain.pid, plain.pid) }
const plainRun = await exchangeRun(plain, minter, plainAgent, 16, amount)
const plainCpu = (cpuMs(plain.pid) - before.all) / amount
// The event loop's thread (its tid is the pid): what the profile below splits by stage.
const mainCpu = (cpuMs(plain.pid, plain.pid) - before.main) / amount
await plain.stop()

// 2. Profiled: the same load, split by stage.
const dir = mkdtempSync(join(tmpdir(), 'stages-prof-'))
const profiled = await startBenchServer({ issuerUrls: minter.issuerUrls, databaseUrl: pg?.url, dataDir, cpuProfileDir: dir })
const agent = await prepareAgent(profiled, minter, 'stages-profiled@agents.example')
await exchangeRun(profiled, minter, agent, 16, warmUp)
await exchangeRun(profiled, minter, agent, 16, amount)
await profiled.stop()
const file = join(
  dir,
  readdirSync(dir).find((f) => f.endsWith('.cpuprofile'))!
)
const exchanges = warmUp + amount
const { stages, busyMs } = stageBreakdown(file, (frame) => frame.url.includes('routes/exchange/'))

const floor = await floorCpuPerRequest(minter)
minter.close()
await pg?.stop()

const us = (ms: number) => `${(ms * 1000).toFixed(0).padStart(5)} µs`
console.log(`database: ${pg ? 'PostgreSQL' : 'embedded (PGlite)'}; ${amount} exchanges at 16 connections`)
console.log(`${plainRun.requestsPerSecond.toFixed(0)} req/s, p99 ${plainRun.p99Ms.toFixed(1)} ms, ${plainRun.non2xx + plainRun.errors} failures (unprofiled)`)
console.log(`server CPU per exchange, all threads: ${us(plainCpu)}`)
console.log(`  event-loop thread:                 ${us(mainCpu)}`)
console.log(`  other threads (embedded database thread, GC helpers, libuv): ${us(plainCpu - mainCpu)}`)
console.log(`HTTP floor CPU per request, same load: ${us(floor.ms)}  (${floor.rps.toFixed(0)} req/s)`)
console.log(`the event-loop thread by stage (profiled: ${us(busyMs / exchanges)} busy per exchange, the profiler's own cost included; scaled to the unprofiled thread):`)
for (const [stage, ms] of [...stages].filter(([stage]) => stage !== 'idle').sort((a, b) => b[1] - a[1]))
  console.log(`  ${us((ms / busyMs) * mainCpu)}  ${((ms / busyMs) * 100).toFixed(1).padStart(5)}%  ${stage}`)
