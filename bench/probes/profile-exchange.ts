// Probe: CPU-profile the server (embedded, or PostgreSQL with PG=1) under exchange load; prints self time by package and function. argv[2] = requests.
import { mkdtempSync, readdirSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { startBenchServer } from '../lib/bench-server'
import { startPostgres } from '../../shared/testing/postgres'
import { formatSummary, summarizeProfile } from '../lib/cpu-profile'
import { TokenMinter } from '../lib/minter'
import { exchangeRun, prepareAgent } from '../sections/server-load'

// PG=1 starts a throw-away PostgreSQL (shared/testing/postgres.ts) instead of the embedded database.
const pg = process.env.PG ? await startPostgres({ maxConnections: 100 }) : undefined
const minter = await TokenMinter.start()
const dir = mkdtempSync(join(tmpdir(), 'prof-'))
// The embedded database is created by a first, unprofiled start: initdb's seconds of WASM
// would otherwise dominate the profile of the steady state.
const dataDir = pg ? undefined : mkdtempSync(join(tmpdir(), 'prof-data-'))
if (dataDir) await (await startBenchServer({ issuerUrls: minter.issuerUrls, dataDir })).stop()
const server = await startBenchServer({ issuerUrls: minter.issuerUrls, cpuProfileDir: dir, databaseUrl: pg?.url, dataDir })
const agentId = await prepareAgent(server, minter, 'p@agents.example')
await exchangeRun(server, minter, agentId, 16, 500)
const r = await exchangeRun(server, minter, agentId, 16, Number(process.argv[2] ?? 3000))
console.log(r.requestsPerSecond, r.p50Ms, r.p99Ms, r.non2xx)
await server.stop()
minter.close()
await pg?.stop()
const file = readdirSync(dir).find((f) => f.endsWith('.cpuprofile'))!
console.log(formatSummary(summarizeProfile(join(dir, file), 40)))
console.log(join(dir, file))
