/**
 * Picks the driver from the configuration and brings the schema up to date. Each driver is
 * imported only when chosen: a server on PostgreSQL never loads the embedded engine, and the
 * embedded one never loads `pg` (both cost start-up time).
 */
import type { Db } from './db'
import { MIGRATIONS, migrate } from './migrations'

export interface OpenOptions {
  databaseUrl?: string
  /** Directory of the embedded database; undefined keeps it in memory (tests). */
  dataDir?: string
}

/**
 * True when every migration is already recorded, the usual case at start: one read, where
 * migrate() takes a locked transaction of five statements (on the embedded engine, whose
 * first statements are slow: bench/ANALYSIS.md, "Server start-up"). Any error (no such table
 * yet on a new database) means "let migrate() decide".
 */
async function schemaIsCurrent(db: Db): Promise<boolean> {
  try {
    const done = await db.query<{ version: number }>('SELECT version FROM schema_migrations')
    const applied = new Set(done.rows.map((row) => Number(row.version)))
    return MIGRATIONS.every((migration) => applied.has(migration.version))
  } catch {
    return false
  }
}

export async function openDatabase(options: OpenOptions): Promise<Db> {
  if (options.databaseUrl) {
    const db = await (await import('./postgres')).openPostgres(options.databaseUrl)
    // Always migrate()'s locked path: the read of schemaIsCurrent would log an error on a
    // brand-new database, and a PostgreSQL statement costs little.
    await closedOnError(db, () => migrate(db))
    return db
  }
  const { openPglite, restrictToOwner } = await import('./pglite')
  const db = await openPglite(options.dataDir)
  if (await closedOnError(db, () => schemaIsCurrent(db))) return db
  await closedOnError(db, () => migrate(db))
  if (!options.dataDir) return db
  // Creating the schema grows the engine's memory, and WebAssembly memory never shrinks: on a
  // data dir's first start (or after an upgrade's migrations) the server goes on with a fresh
  // engine, as small as on any later start (bench/ANALYSIS.md, "A first start from a made cluster").
  await db.close()
  const fresh = await openPglite(options.dataDir)
  // The engine writes its relation cache files anew after a schema change, readable by others.
  await closedOnError(fresh, () => restrictToOwner(options.dataDir!))
  return fresh
}

/** `fn`'s result; on its failure the database is closed before the error goes on. */
async function closedOnError<T>(db: Db, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn()
  } catch (error) {
    await db.close().catch(() => undefined)
    throw error
  }
}
