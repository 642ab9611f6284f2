/** Embedded PostgreSQL (PGlite) on disk in DATA_DIR, or in memory for tests. */
import { mkdir, readFile } from 'node:fs/promises'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import type { PGlite, PGliteOptions } from '@electric-sql/pglite'
import type { Db, Queryable, QueryResult } from './db'

function adapt(target: { query: PGlite['query'] }): Queryable {
  return {
    async query<Row>(sql: string, params: unknown[] = []): Promise<QueryResult<Row>> {
      const result = await target.query<Row>(sql, params)
      return { rows: result.rows, rowCount: result.affectedRows ?? result.rows.length }
    }
  }
}

type WasmModule = NonNullable<PGliteOptions['pgliteWasmModule']>
/** Node's WebAssembly global (this project's TypeScript lib has no DOM/WebAssembly types). */
const wasm = (globalThis as unknown as { WebAssembly: { compile(bytes: Uint8Array): Promise<WasmModule> } }).WebAssembly

let engine: Promise<WasmModule | undefined> | undefined

/**
 * The engine's WebAssembly, compiled once per process. PGlite would compile it itself, but
 * only after its own set-up; started here, the compile (off the main thread) overlaps that
 * set-up and whatever the caller loads meanwhile (server start-up). Undefined: PGlite's own
 * way is used.
 */
function compiledEngine(): Promise<WasmModule | undefined> {
  engine ??= (async () => {
    try {
      const dist = dirname(createRequire(import.meta.url).resolve('@electric-sql/pglite'))
      return await wasm.compile(await readFile(join(dist, 'pglite.wasm')))
    } catch {
      return undefined
    }
  })()
  return engine
}

/** Opens (creating if needed) the embedded database; `dataDir` undefined keeps it in memory. */
export async function openPglite(dataDir?: string): Promise<Db> {
  const compiling = compiledEngine()
  // Imported here, not at the top: a bundle hoists static imports, and a server on
  // PostgreSQL must not load the engine at all.
  const [{ PGlite }] = await Promise.all([
    import('@electric-sql/pglite'),
    dataDir ? mkdir(dataDir, { recursive: true, mode: 0o700 }) : undefined
  ])
  const pgliteWasmModule = await compiling
  const pg = await PGlite.create(dataDir, pgliteWasmModule ? { pgliteWasmModule } : {})
  const base = adapt(pg)
  return {
    kind: 'pglite',
    query: base.query,
    transaction: (fn) => pg.transaction((tx) => fn(adapt(tx))),
    close: () => pg.close()
  }
}
