/**
 * `npm run bench` — performance figures of the actions and the reference server, each beside
 * a reference measured in the same run on the same machine (issue 6). Prints a table and
 * writes bench/RESULTS.md.
 *
 *   npm run bench                    full run (~10 min on 2 cores)
 *   npm run bench -- --quick         smoke run (~1-2 min); writes nothing unless --write
 *   npm run bench -- --only=cold,size,crypto,embedded,postgres,workspaces,workers
 *   npm run bench -- --profile       also CPU-profile the embedded server under exchange load
 */
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { nodePath } from '../shared/testing/node24'
import { startPostgres } from '../shared/testing/postgres'
import { startBenchServer } from './lib/bench-server'
import { formatSummary, summarizeProfile } from './lib/cpu-profile'
import { describeMachine, loadAverage, type Machine } from './lib/machine'
import { TokenMinter } from './lib/minter'
import { median } from './lib/stats'
import { ResultTable } from './lib/table'
import { bundleSizes } from './sections/bundle-size'
import { coldStart } from './sections/cold-start'
import { cryptoReference } from './sections/crypto'
import { memoryGrowth } from './sections/memory'
import { exchangeRun, prepareAgent, serverLoad, type LoadPlan } from './sections/server-load'
import { restingMemory, serverStartup } from './sections/startup'
import { workersSection, type WorkersPlan } from './sections/workers'
import { workspacesSection, type WorkspacesPlan } from './sections/workspaces'

const SECTIONS = ['size', 'cold', 'crypto', 'embedded', 'postgres', 'workspaces', 'workers'] as const
type Section = (typeof SECTIONS)[number]

interface Plan {
  coldRuns: number
  startupRuns: number
  cryptoSeconds: number
  cryptoRepetitions: number
  load: LoadPlan
  memoryTotal: number
  postgresMemoryTotal: number
  /** Wall-time cap of each memory run. */
  memoryCapMs: number
  workspaces: WorkspacesPlan
  workers: WorkersPlan
}

const FULL: Plan = {
  coldRuns: 10,
  startupRuns: 7,
  cryptoSeconds: 2,
  cryptoRepetitions: 3,
  load: {
    runs: 3,
    exchange: [
      { connections: 1, amount: 500 },
      { connections: 16, amount: 3000 },
      { connections: 64, amount: 3000 }
    ],
    federateAmount: 2000,
    federateConnections: 16
  },
  memoryTotal: 100_000,
  postgresMemoryTotal: 30_000,
  memoryCapMs: 240_000,
  workspaces: { workspaces: 100, rows: 1000, runs: 3, connections: 16, loadSeconds: 8, firstQueryRuns: 11, exchangeAmount: 3000 },
  workers: { runs: 5, amount: 3000, connections: 16, workers: [1, 2] }
}

const QUICK: Plan = {
  coldRuns: 3,
  startupRuns: 2,
  cryptoSeconds: 1,
  cryptoRepetitions: 1,
  load: {
    runs: 1,
    exchange: [
      { connections: 1, amount: 200 },
      { connections: 16, amount: 1000 },
      { connections: 64, amount: 1000 }
    ],
    federateAmount: 500,
    federateConnections: 16
  },
  memoryTotal: 5_000,
  postgresMemoryTotal: 5_000,
  memoryCapMs: 60_000,
  // 32 workspaces: still twice WORKSPACE_MAX_OPEN, and the embedded set-up of 100 takes minutes.
  workspaces: { workspaces: 32, rows: 1000, runs: 1, connections: 16, loadSeconds: 3, firstQueryRuns: 5, exchangeAmount: 1000 },
  workers: { runs: 2, amount: 1000, connections: 16, workers: [1, 2] }
}

function parseArgs(argv: string[]): { quick: boolean; write: boolean; profile: boolean; only: Set<Section> } {
  const quick = argv.includes('--quick')
  const onlyArg = argv.find((a) => a.startsWith('--only='))
  const only = new Set<Section>(onlyArg ? (onlyArg.slice(7).split(',') as Section[]) : SECTIONS)
  for (const s of only) if (!SECTIONS.includes(s)) throw new Error(`--only: unknown section "${s}" (one of ${SECTIONS.join(', ')})`)
  return { quick, write: argv.includes('--write') || (!quick && !onlyArg), profile: argv.includes('--profile'), only }
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2))
  const plan = args.quick ? QUICK : FULL
  const started = Date.now()
  const node24 = await nodePath('node24')
  const runtimes = [
    { label: 'Node 24', path: node24 },
    { label: 'Node 20', path: await nodePath('node20') }
  ]
  const machine = describeMachine(Object.fromEntries(runtimes.map((r) => [r.label, r.path])))
  console.log(
    `federate bench (${args.quick ? 'quick' : 'full'}) on ${machine.nproc} cores, ${machine.cpuModel}, ${Object.entries(machine.node)
      .map(([k, v]) => `${k} ${v}`)
      .join(', ')}`
  )
  const table = new ResultTable()
  const notes: string[] = []
  // Other work on the machine skews every figure; keep the load average beside the results.
  const loads = [machine.loadAverage]
  const sampler = setInterval(() => loads.push(loadAverage()), 10_000)
  sampler.unref()

  if (args.only.has('size')) bundleSizes(table)
  if (args.only.has('cold')) await coldStart(table, { runs: plan.coldRuns, runtimes })
  let cryptoRate = Number.NaN
  if (args.only.has('crypto') || args.only.has('embedded') || args.only.has('postgres')) {
    cryptoRate = (await cryptoReference(table, plan.cryptoSeconds, plan.cryptoRepetitions)).nodeCrypto
  }

  const needsServer = args.only.has('embedded') || args.only.has('postgres') || args.only.has('workspaces') || args.only.has('workers')
  const minter = needsServer ? await TokenMinter.start() : undefined
  try {
    if (minter && args.only.has('embedded')) await databaseSuite(table, 'embedded PGlite', minter, plan, cryptoRate, {}, args.profile ? notes : undefined)
    if (minter && args.only.has('postgres')) {
      const pg = await startPostgres({ maxConnections: 100 })
      try {
        const pgPlan = { ...plan, memoryTotal: plan.postgresMemoryTotal, memoryCapMs: plan.memoryCapMs / 2 }
        await databaseSuite(table, 'PostgreSQL', minter, pgPlan, cryptoRate, { databaseUrl: pg.url })
      } finally {
        await pg.stop()
      }
    }
    if (minter && args.only.has('workspaces')) await workspacesSuite(table, minter, plan.workspaces)
    if (minter && args.only.has('workers')) {
      const pg = await startPostgres({ maxConnections: 100 })
      try {
        await workersSection(table, pg, minter, plan.workers)
      } finally {
        await pg.stop()
      }
    }
  } finally {
    minter?.close()
  }

  clearInterval(sampler)
  const load = { median: median(loads), max: Math.max(...loads) }
  const minutes = (Date.now() - started) / 60_000
  console.log(`\n${table.text()}\n`)
  const misses = table.misses()
  console.log(misses.length ? `targets missed: ${misses.map((r) => `${r.section} ${r.metric}`).join('; ')}` : 'every target holds')
  for (const note of notes) console.log(`\n${note}`)
  console.log(
    `bench took ${minutes.toFixed(1)} min; 1-min load average during the run: median ${load.median.toFixed(1)}, max ${load.max.toFixed(1)} on ${machine.nproc} cores`
  )
  if (args.write) {
    const file = fileURLToPath(new URL('./RESULTS.md', import.meta.url))
    writeFileSync(file, resultsMarkdown(machine, table, args.quick, minutes, load, notes))
    console.log(`wrote ${file}`)
  }
}

/** Load, memory and start-up on one database. */
async function databaseSuite(
  table: ResultTable,
  label: string,
  minter: TokenMinter,
  plan: Plan,
  cryptoRate: number,
  db: { databaseUrl?: string },
  profileNotes?: string[]
): Promise<void> {
  const dataDir = mkdtempSync(join(tmpdir(), 'federate-bench-data-'))
  try {
    const server = await startBenchServer({ issuerUrls: minter.issuerUrls, dataDir, ...db })
    try {
      await serverLoad(table, label, server, minter, plan.load, cryptoRate)
    } finally {
      await server.stop()
    }
    // Start-up on the data dir (or PostgreSQL schema) the load run left behind.
    await serverStartup(table, label, { runs: plan.startupRuns, issuerUrls: minter.issuerUrls, dataDir, ...db })
    if (!db.databaseUrl) await restingMemory(table, label, { runs: plan.startupRuns, issuerUrls: minter.issuerUrls })
  } finally {
    rmSync(dataDir, { recursive: true, force: true })
  }
  // Memory on a fresh server: RSS after 1k and after memoryTotal exchanges.
  const fresh = await startBenchServer({ issuerUrls: minter.issuerUrls, ...db })
  try {
    await memoryGrowth(table, label, fresh, minter, plan.memoryTotal, plan.memoryCapMs)
  } finally {
    await fresh.stop()
  }
  if (profileNotes) profileNotes.push(await profileExchange(label, minter, db))
}

/**
 * 8. The workspace SQL API in both storage modes, each on a fresh server; each mode again with
 * room for every workspace at once (embedded: open instances; PostgreSQL: connections), load
 * and memory only, to show what the LRU and the pool churn cost.
 */
async function workspacesSuite(table: ResultTable, minter: TokenMinter, plan: WorkspacesPlan): Promise<void> {
  const run = async (label: string, options: { databaseUrl?: string; env?: Record<string, string> }, wsPlan: WorkspacesPlan): Promise<void> => {
    const server = await startBenchServer({ issuerUrls: minter.issuerUrls, ...options })
    try {
      await workspacesSection(table, label, server, minter, wsPlan)
    } catch (error) {
      console.error(`server output (${label}):\n${server.output().slice(-4000)}`)
      throw error
    } finally {
      await server.stop()
    }
  }
  await run('embedded PGlite', {}, plan)
  await run(`embedded PGlite, WORKSPACE_MAX_OPEN=${plan.workspaces}`, { env: { WORKSPACE_MAX_OPEN: String(plan.workspaces) } }, { ...plan, loadOnly: true })
  // Room for one connection per workspace besides the server's own pool (no pool churn).
  const pg = await startPostgres({ maxConnections: 2 * plan.workspaces + 50 })
  try {
    await run('PostgreSQL', { databaseUrl: pg.url }, plan)
    const room = { WORKSPACE_MAX_CONNECTIONS: String(2 * plan.workspaces) }
    await run(`PostgreSQL, WORKSPACE_MAX_CONNECTIONS=${room.WORKSPACE_MAX_CONNECTIONS}`, { databaseUrl: pg.url, env: room }, { ...plan, loadOnly: true })
  } finally {
    await pg.stop()
  }
}

/** The exchange at 16 connections under --cpu-prof; returns the summary text. */
async function profileExchange(label: string, minter: TokenMinter, db: { databaseUrl?: string }): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'federate-bench-prof-'))
  // The embedded database is created by a first, unprofiled start: initdb's seconds of WASM
  // would otherwise dominate a profile that is meant to show the steady state.
  const dataDir = db.databaseUrl ? undefined : join(dir, 'data')
  try {
    if (dataDir) await (await startBenchServer({ issuerUrls: minter.issuerUrls, dataDir })).stop()
    const server = await startBenchServer({ issuerUrls: minter.issuerUrls, cpuProfileDir: dir, ...db, dataDir })
    try {
      const agentId = await prepareAgent(server, minter, 'bench-profile@agents.example')
      await exchangeRun(server, minter, agentId, 16, 1000)
      await exchangeRun(server, minter, agentId, 16, 5000)
    } finally {
      await server.stop()
    }
    const file = readdirSync(dir).find((f) => f.endsWith('.cpuprofile'))
    if (!file) return `CPU profile (${label}): no profile was written`
    return `CPU profile of the server (${label}), exchange at 16 connections:\n${formatSummary(summarizeProfile(join(dir, file)))}`
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

function resultsMarkdown(machine: Machine, table: ResultTable, quick: boolean, minutes: number, load: { median: number; max: number }, notes: string[]): string {
  const misses = table.misses()
  return [
    '# Benchmark results',
    '',
    `Measured ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC with \`npm run bench${quick ? ' -- --quick' : ''}\` (${minutes.toFixed(1)} min).`,
    '',
    `Machine: ${machine.nproc} cores (nproc), ${machine.cpuModel}, ${machine.memoryGiB} GiB RAM, Linux ${machine.kernel}; ` +
      Object.entries(machine.node)
        .map(([k, v]) => `${k}: ${v}`)
        .join(', ') +
      '. ' +
      `1-minute load average during the run: median ${load.median.toFixed(1)}, max ${load.max.toFixed(1)} ` +
      `(${load.median > machine.nproc ? 'the machine was shared with other work: absolute figures are pessimistic, the same-run ratios less so' : 'quiet machine'}).`,
    '',
    'Every figure is the median of several runs, beside a reference measured in the same run on the same machine; ' +
      'the ratio is what the targets of issue 6 judge. See bench/README.md for the method and bench/ANALYSIS.md for what the profiles show where a target is missed.',
    '',
    table.markdown(),
    '',
    misses.length ? `Targets missed: ${misses.map((r) => `${r.section}: ${r.metric}`).join('; ')}.` : 'Every target holds.',
    ...notes.map((n) => `\n\`\`\`\n${n}\n\`\`\``),
    ''
  ].join('\n')
}

main().catch((error: unknown) => {
  console.error(error)
  process.exit(1)
})
