/**
 * 6. Server start-up to a healthy /healthz on an existing data dir (or PostgreSQL with its
 * schema in place), as an operator runs it (`node --import tsx shared/server/main.ts`).
 * Shares: `node -e 0`; the server prebuilt to one JS file (esbuild, dependencies external)
 * run by plain node, so the difference is what tsx costs; PGlite's own import + create.
 */
import { spawn } from 'node:child_process'
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { timeProcess } from '../lib/proc'
import { fmt, fmtRatio, median } from '../lib/stats'
import type { ResultTable } from '../lib/table'

const ROOT = fileURLToPath(new URL('../..', import.meta.url))
const PGLITE_START = fileURLToPath(new URL('../lib/pglite-start.mjs', import.meta.url))
// Under node_modules so that the prebuilt file resolves the same dependencies.
const BUILD_DIR = join(ROOT, 'node_modules', '.cache', 'federate-bench')
const TARGET_MS = 1000

export interface StartupOptions {
  runs: number
  issuerUrls: string[]
  dataDir?: string
  databaseUrl?: string
}

/** Spawn → first 200 from /healthz, then SIGTERM and wait for the exit. */
async function timeToHealthy(args: string[], env: Record<string, string>): Promise<number> {
  const start = performance.now()
  const child = spawn(process.execPath, args, { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] })
  let output = ''
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  try {
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
    for (;;) {
      try {
        const res = await fetch(`${url}/healthz`)
        if (res.ok) return performance.now() - start
      } catch {
        // not accepting yet
      }
      await new Promise((r) => setTimeout(r, 2))
    }
  } finally {
    child.kill('SIGTERM')
    await exited
  }
}

async function prebuildServer(): Promise<string | undefined> {
  try {
    // esbuild comes with tsx; if it is not there, the tsx share is simply not reported.
    const { build } = await import('esbuild')
    mkdirSync(BUILD_DIR, { recursive: true })
    const outfile = join(BUILD_DIR, 'server.mjs')
    await build({
      entryPoints: [join(ROOT, 'shared/server/main.ts')],
      bundle: true,
      platform: 'node',
      format: 'esm',
      target: 'node20',
      packages: 'external',
      outfile,
      logLevel: 'silent'
    })
    writeFileSync(join(BUILD_DIR, 'package.json'), '{"type":"module"}\n')
    return outfile
  } catch (error) {
    console.warn(`  (no prebuilt server: ${(error as Error).message.split('\n')[0]})`)
    return undefined
  }
}

export async function serverStartup(table: ResultTable, label: string, options: StartupOptions): Promise<void> {
  const section = `6. server start-up (${label})`
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? '',
    HOME: process.env.HOME ?? '/root',
    PORT: '0',
    HOST: '127.0.0.1',
    OIDC_ISSUERS: options.issuerUrls.join(','),
    ADMIN_TOKEN: 'bench-admin-token-0123456789',
    LOG_LEVEL: 'warn',
    ...(options.databaseUrl ? { DATABASE_URL: options.databaseUrl } : { DATA_DIR: options.dataDir! })
  }
  const prebuilt = await prebuildServer()
  const tsx: number[] = []
  const plain: number[] = []
  const base: number[] = []
  const engine: Array<{ importMs: number; createMs: number; firstQueryMs: number }> = []
  for (let i = 0; i < options.runs + 1; i++) {
    const t = await timeToHealthy(['--import', 'tsx', 'shared/server/main.ts'], env)
    const p = prebuilt ? await timeToHealthy([prebuilt], env) : Number.NaN
    const b = (await timeProcess(process.execPath, ['-e', '0'], { PATH: env.PATH! })).ms
    if (!options.databaseUrl) {
      const run = await timeProcess(process.execPath, [PGLITE_START, options.dataDir!], { PATH: env.PATH! }, ROOT)
      if (run.code !== 0) throw new Error(`pglite-start failed: ${run.stderr.slice(0, 400)}`)
      if (i > 0) engine.push(JSON.parse(run.stdout))
    }
    if (i === 0) continue // first round warms the page cache
    tsx.push(t)
    plain.push(p)
    base.push(b)
  }
  const total = median(tsx)
  table.add({
    section,
    metric: 'spawn to healthy /healthz (node --import tsx, as npm run server)',
    value: fmt(total, 'ms'),
    reference: `node -e 0: ${fmt(median(base), 'ms')}`,
    ratio: fmtRatio(total / median(base)),
    target: `< ${TARGET_MS} ms`,
    pass: total < TARGET_MS
  })
  if (prebuilt) {
    const pre = median(plain)
    table.add({
      section,
      metric: 'same, server prebuilt to JS (plain node): tsx share = difference',
      value: fmt(pre, 'ms'),
      reference: `tsx: ${fmt(total, 'ms')}`,
      ratio: `tsx share ${fmt(total - pre, 'ms')} (${(((total - pre) / total) * 100).toFixed(0)}%)`
    })
  }
  if (engine.length) {
    const imp = median(engine.map((e) => e.importMs))
    const create = median(engine.map((e) => e.createMs))
    const first = median(engine.map((e) => e.firstQueryMs))
    table.add({
      section,
      metric: 'PGlite alone: import + create(existing dir) + first query',
      value: `${fmt(imp + create + first, 'ms')} (${fmt(imp, 'ms')} + ${fmt(create, 'ms')} + ${fmt(first, 'ms')})`,
      reference: `server: ${fmt(total, 'ms')}`,
      ratio: `engine share ${(((imp + create + first) / total) * 100).toFixed(0)}%`
    })
  }
}
