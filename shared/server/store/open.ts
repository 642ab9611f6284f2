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
  const db = options.databaseUrl ? await (await import('./postgres')).openPostgres(options.databaseUrl) : await (await import('./pglite')).openPglite(options.dataDir)
  try {
    // PostgreSQL always takes migrate()'s locked path: the read below would log an error on
    // a brand-new database, and a PostgreSQL statement costs little.
    if (db.kind === 'postgres' || !(await schemaIsCurrent(db))) await migrate(db)
  } catch (error) {
    await db.close().catch(() => undefined)
    throw error
  }
  return db
}
