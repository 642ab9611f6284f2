/**
 * 6. Server start-up to a healthy /healthz on an existing data dir (or PostgreSQL with its
 * schema in place), as an operator runs it: `npm run server` is `node scripts/build-server-run.mjs`
 * (checks that build/server/main.mjs is fresh, then runs it in the same process, plain node).
 * References: `node -e 0`; the TypeScript source run by tsx (how `npm run server` ran before
 * the prebuilt file, and how the tests still start it); PGlite's own import + create + first
 * query on the same data dir, opened the way the server opens it (lib/pglite-start.mjs) = the
 * engine share, and by a plain PGlite.create for comparison.
 * 6b (embedded only): the built server's RSS at rest and its peak during start, on its first
 * start and on an existing data dir.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { timeProcess } from '../lib/proc'
import { fmt, fmtRatio, median } from '../lib/stats'
import type { ResultTable } from '../lib/table'

const ROOT = fileURLToPath(new URL('../..', import.meta.url))
const PGLITE_START = fileURLToPath(new URL('../lib/pglite-start.mjs', import.meta.url))
const SERVER_RUN = join(ROOT, 'scripts/build-server-run.mjs')
const BUILD = join(ROOT, 'scripts/build-server.mjs')
const TARGET_MS = 1000

export interface StartupOptions {
  runs: number
  issuerUrls: string[]
  dataDir?: string
  databaseUrl?: string
}

interface Started {
  child: ChildProcess
  url: string
  exited: Promise<void>
}

/** Spawns a server and resolves once it prints the URL it listens on. */
async function spawnServer(args: string[], env: Record<string, string>): Promise<Started> {
  const child = spawn(process.execPath, args, { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] })
  let output = ''
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  const url = await new Promise<string>((resolve, reject) => {
    const onData = (chunk: Buffer): void => {
      output += chunk.toString('utf8')
      const match = /listening on (http:\/\/\S+)/.exec(output)
      if (match) resolve(match[1]!)
    }
    child.stdout.on('data', onData)
    child.stderr.on('data', onData)
    child.once('exit', (code) => reject(new Error(`server exited with ${code}: ${output.slice(0, 500)}`)))
  })
  return { child, url, exited }
}

async function untilHealthy(url: string): Promise<void> {
  for (;;) {
    try {
      if ((await fetch(`${url}/healthz`)).ok) return
    } catch {
      // not accepting yet
    }
    await new Promise((r) => setTimeout(r, 2))
  }
}

/** Spawn → first 200 from /healthz, then SIGTERM and wait for the exit. */
async function timeToHealthy(args: string[], env: Record<string, string>): Promise<number> {
  const start = performance.now()
  const server = await spawnServer(args, env)
  try {
    await untilHealthy(server.url)
    return performance.now() - start
  } finally {
    server.child.kill('SIGTERM')
    await server.exited
  }
}

/** VmRSS and VmHWM (the peak) of a process, in MiB. */
function residentMiB(pid: number): { rss: number; peak: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8')
  const kib = (field: string): number => Number(new RegExp(`^${field}:\\s+(\\d+) kB$`, 'm').exec(status)?.[1] ?? NaN)
  return { rss: kib('VmRSS') / 1024, peak: kib('VmHWM') / 1024 }
}

interface Resting {
  /** RSS `IDLE_MS` after healthy. */
  rss: number
  /** RSS `SETTLED_MS` after healthy: V8's memory reducer has had its turn (the start's garbage collected). */
  settled: number
  /** The peak (VmHWM) over the whole start. */
  peak: number
}

/** The built server (as npm run server runs it) left alone after it is healthy: its RSS at two times, and its peak. */
async function restingServer(env: Record<string, string>): Promise<Resting> {
  const server = await spawnServer([SERVER_RUN], env)
  try {
    await untilHealthy(server.url)
    await new Promise((r) => setTimeout(r, IDLE_MS))
    const { rss, peak } = residentMiB(server.child.pid!)
    await new Promise((r) => setTimeout(r, SETTLED_MS - IDLE_MS))
    return { rss, peak, settled: residentMiB(server.child.pid!).rss }
  } finally {
    server.child.kill('SIGTERM')
    await server.exited
  }
}

const IDLE_TARGET_MIB = 200
const START_PEAK_TARGET_MIB = 400
const IDLE_MS = 5000
const SETTLED_MS = 30_000

/**
 * 6b. The embedded server's memory at rest: its first start on a new data dir (the made
 * cluster unpacked) and a start on the existing dir, each left alone after it is healthy: RSS
 * at 5 s (the target), and at 30 s, once V8 has collected the start's garbage by itself.
 */
export async function restingMemory(table: ResultTable, label: string, options: StartupOptions): Promise<void> {
  await buildServerFile()
  const scratch = mkdtempSync(join(tmpdir(), 'bench-resting-'))
  const env = { ...serverEnv(options), DATA_DIR: join(scratch, 'data') }
  let first: Resting
  let again: Resting[]
  try {
    first = await restingServer(env)
    again = [await restingServer(env), await restingServer(env)]
  } finally {
    rmSync(scratch, { recursive: true, force: true })
  }
  const existing = { rss: median(again.map((r) => r.rss)), settled: median(again.map((r) => r.settled)), peak: median(again.map((r) => r.peak)) }
  const section = `6b. memory at rest (${label}, built server)`
  for (const [when, m] of [
    ['first start (new data dir)', first],
    ['start on the existing data dir', existing]
  ] as const) {
    table.add({
      section,
      metric: `${when}: RSS ${IDLE_MS / 1000} s after healthy`,
      value: fmt(m.rss, 'MiB'),
      target: `<= ${IDLE_TARGET_MIB} MiB`,
      pass: m.rss <= IDLE_TARGET_MIB
    })
    table.add({
      section,
      metric: `${when}: RSS ${SETTLED_MS / 1000} s after healthy (V8's memory reducer has run)`,
      value: fmt(m.settled, 'MiB')
    })
    table.add({
      section,
      metric: `${when}: peak RSS during start`,
      value: fmt(m.peak, 'MiB'),
      target: `<= ${START_PEAK_TARGET_MIB} MiB`,
      pass: m.peak <= START_PEAK_TARGET_MIB
    })
  }
}

function serverEnv(options: StartupOptions): Record<string, string> {
  return {
    PATH: process.env.PATH ?? '',
    HOME: process.env.HOME ?? '/root',
    PORT: '0',
    HOST: '127.0.0.1',
    OIDC_ISSUERS: options.issuerUrls.join(','),
    ADMIN_TOKEN: 'bench-admin-token-0123456789',
    LOG_LEVEL: 'warn',
    ...(options.databaseUrl ? { DATABASE_URL: options.databaseUrl } : { DATA_DIR: options.dataDir! })
  }
}

let built: Promise<void> | undefined

/** Builds build/server/main.mjs once per bench run (the sources do not change during it), so no timed run pays for a build. */
function buildServerFile(): Promise<void> {
  built ??= (async () => {
    const run = await timeProcess(process.execPath, [BUILD], { PATH: process.env.PATH ?? '' }, ROOT)
    if (run.code !== 0) throw new Error(`scripts/build-server.mjs failed: ${run.stderr.slice(0, 400)}`)
  })()
  return built
}

export async function serverStartup(table: ResultTable, label: string, options: StartupOptions): Promise<void> {
  const section = `6. server start-up (${label})`
  const env = serverEnv(options)
  await buildServerFile()
  const prebuilt: number[] = []
  const tsx: number[] = []
  const base: number[] = []
  type EngineRun = { importMs: number; createMs: number; firstQueryMs: number }
  const engine: EngineRun[] = []
  const plainEngine: EngineRun[] = []
  const engineStart = async (mode: 'server' | 'plain'): Promise<EngineRun> => {
    const run = await timeProcess(process.execPath, [PGLITE_START, options.dataDir!, mode], { PATH: env.PATH! }, ROOT)
    if (run.code !== 0) throw new Error(`pglite-start failed: ${run.stderr.slice(0, 400)}`)
    return JSON.parse(run.stdout) as EngineRun
  }
  for (let i = 0; i < options.runs + 1; i++) {
    const p = await timeToHealthy([SERVER_RUN], env)
    const t = await timeToHealthy(['--import', 'tsx', 'shared/server/main.ts'], env)
    const b = (await timeProcess(process.execPath, ['-e', '0'], { PATH: env.PATH! })).ms
    if (!options.databaseUrl) {
      const asServer = await engineStart('server')
      const plain = await engineStart('plain')
      if (i > 0) {
        engine.push(asServer)
        plainEngine.push(plain)
      }
    }
    if (i === 0) continue // first round warms the page cache
    prebuilt.push(p)
    tsx.push(t)
    base.push(b)
  }
  const total = median(prebuilt)
  const viaTsx = median(tsx)
  table.add({
    section,
    metric: 'spawn to healthy /healthz (as npm run server: prebuilt JS, plain node)',
    value: fmt(total, 'ms'),
    reference: `node -e 0: ${fmt(median(base), 'ms')}`,
    ratio: fmtRatio(total / median(base)),
    target: `< ${TARGET_MS} ms`,
    pass: total < TARGET_MS
  })
  table.add({
    section,
    metric: 'same from the TypeScript source (node --import tsx, as the tests start it)',
    value: fmt(viaTsx, 'ms'),
    reference: `prebuilt: ${fmt(total, 'ms')}`,
    ratio: `${fmtRatio(viaTsx / total)} (tsx costs ${fmt(viaTsx - total, 'ms')})`
  })
  if (engine.length) {
    const imp = median(engine.map((e) => e.importMs))
    const create = median(engine.map((e) => e.createMs))
    const first = median(engine.map((e) => e.firstQueryMs))
    const plain = median(plainEngine.map((e) => e.importMs + e.createMs + e.firstQueryMs))
    table.add({
      section,
      metric: 'PGlite alone, opened as the server opens it: import + create(existing dir) + first query',
      value: `${fmt(imp + create + first, 'ms')} (${fmt(imp, 'ms')} + ${fmt(create, 'ms')} + ${fmt(first, 'ms')})`,
      reference: `server: ${fmt(total, 'ms')}; plain PGlite.create: ${fmt(plain, 'ms')}`,
      ratio: `engine share ${(((imp + create + first) / total) * 100).toFixed(0)}%`
    })
  }
}
