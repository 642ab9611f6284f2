/**
 * Embedded PostgreSQL (PGlite) on disk in DATA_DIR, or in memory for tests.
 *
 * DATA_DIR holds the private signing keys (table files and WAL): it is the server user's
 * alone. A directory we create is 0700; an existing one that group or others may use is
 * refused. PGlite writes the files of a new cluster 0666 (and a few later ones 0644),
 * whatever the umask: group and other bits are taken off every file after a new cluster is
 * created and at close. The 0700 directory is what keeps other users out meanwhile.
 */
/* eslint-disable @typescript-eslint/no-unsafe-assignment, @typescript-eslint/no-unsafe-return, @typescript-eslint/no-redundant-type-constituents --
   PGlite's types name WebAssembly.Module, which this project's TypeScript lib (no DOM) does not declare: the linter sees those values as untyped. */
import { access, chmod, lstat, mkdir, readdir, readFile, stat } from 'node:fs/promises'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import type { PGlite, PGliteOptions } from '@electric-sql/pglite'
import { ConfigError } from '../config'
import type { Db, Queryable, QueryResult } from './db'
import { unpackCluster } from './pglite-cluster'

function adapt(target: { query: PGlite['query'] }): Queryable {
  return {
    async query<Row>(sql: string, params: unknown[] = []): Promise<QueryResult<Row>> {
      const result = await target.query<Row>(sql, params)
      return { rows: result.rows, rowCount: result.affectedRows ?? result.rows.length }
    }
  }
}

export type WasmModule = NonNullable<PGliteOptions['pgliteWasmModule']>
/** Node's WebAssembly global (this project's TypeScript lib has no DOM/WebAssembly types). */
const wasm = (globalThis as unknown as { WebAssembly: { compile(bytes: Uint8Array): Promise<WasmModule> } }).WebAssembly

let engine: Promise<WasmModule | undefined> | undefined

/** The installed engine's directory (its .wasm and package.json), resolved as node resolves the import. */
const engineDist = (): string => dirname(createRequire(import.meta.url).resolve('@electric-sql/pglite'))

let version: Promise<string> | undefined

/** The installed PGlite's version: a made cluster (pglite-cluster.ts) fits only the version that made it. */
export function pgliteVersion(): Promise<string> {
  version ??= readFile(join(engineDist(), '..', 'package.json'), 'utf8').then((text) => (JSON.parse(text) as { version: string }).version)
  return version
}

/**
 * The engine's WebAssembly, compiled once per process. PGlite would compile it itself, but
 * only after its own set-up; started here, the compile (off the main thread) overlaps that
 * set-up and whatever the caller loads meanwhile (server start-up). Undefined: PGlite's own
 * way is used.
 */
export function compiledEngine(): Promise<WasmModule | undefined> {
  engine ??= (async () => {
    try {
      return await wasm.compile(await readFile(join(engineDist(), 'pglite.wasm')))
    } catch {
      return undefined
    }
  })()
  return engine
}

/** Group and other permission bits. */
const OTHERS = 0o077

/** `dir` as one shell word (for the fix we print). */
const shellWord = (dir: string): string => (/^[\w@%+=:,./-]+$/.test(dir) ? dir : `'${dir.replace(/'/g, `'\\''`)}'`)

/**
 * Creates DATA_DIR 0700, or checks that an existing one is the server user's alone.
 * Returns true when it holds no database yet (openPglite puts a cluster in it).
 */
export async function prepareDataDir(dataDir: string): Promise<boolean> {
  let info
  try {
    info = await stat(dataDir)
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error
    await mkdir(dataDir, { recursive: true, mode: 0o700 })
    await chmod(dataDir, 0o700) // whatever the umask
    return true
  }
  if (!info.isDirectory()) throw new ConfigError('DATA_DIR', `${dataDir} is not a directory`)
  if (info.mode & OTHERS) {
    const mode = (info.mode & 0o777).toString(8).padStart(3, '0')
    const dir = shellWord(dataDir)
    throw new ConfigError(
      'DATA_DIR',
      `${dataDir} is open to other users (mode ${mode}), and the database in it holds the private signing keys: ` +
        `run chmod 700 ${dir}, and check the files inside (chmod -R go-rwx ${dir} takes other users' access off them; ` +
        `if it held a database readable by others, rotate the signing key), then start again`
    )
  }
  return access(join(dataDir, 'PG_VERSION')).then(
    () => false,
    () => true
  )
}

/** Takes group and other permissions off everything under `dir` (symbolic links left alone). */
export async function restrictToOwner(dir: string): Promise<void> {
  const entries = await readdir(dir, { withFileTypes: true })
  await Promise.all(
    entries.map(async (entry) => {
      if (entry.isSymbolicLink()) return
      const path = join(dir, entry.name)
      const { mode } = await lstat(path)
      if (mode & OTHERS) await chmod(path, mode & 0o7700)
      if (entry.isDirectory()) await restrictToOwner(path)
    })
  )
}

/** Opens (creating if needed) the embedded database; `dataDir` undefined keeps it in memory. */
export async function openPglite(dataDir?: string): Promise<Db> {
  const compiling = compiledEngine()
  // Imported here, not at the top: a bundle hoists static imports, and a server on
  // PostgreSQL must not load the engine at all.
  const [{ PGlite }, created] = await Promise.all([import('@electric-sql/pglite'), dataDir ? prepareDataDir(dataDir) : false])
  // A new data dir starts from the made cluster when there is one for this engine version
  // (pglite-cluster.ts); otherwise PGlite runs initdb when it opens.
  const unpacked = dataDir && created ? await unpackCluster(dataDir, await pgliteVersion()) : false
  const pgliteWasmModule = await compiling
  // A buffer pool of 16 MB instead of PostgreSQL's 128 MB: the engine touches all of it, and it
  // was most of what an idle server held, at no measurable cost to the exchange, with small
  // tables or after 100k exchanges (bench/ANALYSIS.md, "The idle embedded server's memory" and
  // "A first start from a made cluster").
  const startParams = [...PGlite.defaultStartParams, '-c', 'shared_buffers=16MB']
  const open = (): Promise<PGlite> => PGlite.create(dataDir, { ...(pgliteWasmModule ? { pgliteWasmModule } : {}), startParams })
  let pg = await open()
  if (dataDir && created && !unpacked) {
    // PGlite's initdb grows the engine's memory to several times what it needs afterwards, and
    // WebAssembly memory never shrinks: an engine closed and dropped gives it back, so the
    // server goes on with a fresh one (bench/ANALYSIS.md, "The idle embedded server's memory").
    await pg.close()
    pg = await open()
  }
  if (dataDir && created) await restrictToOwner(dataDir)
  const base = adapt(pg)
  return {
    kind: 'pglite',
    query: (sql, params) => base.query(sql, params),
    transaction: (fn) => pg.transaction((tx) => fn(adapt(tx))),
    close: async () => {
      await pg.close()
      if (dataDir) await restrictToOwner(dataDir)
    }
  }
}
