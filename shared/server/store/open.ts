/**
 * Picks the driver from the configuration and brings the schema up to date. Each driver is
 * imported only when chosen: a server on PostgreSQL never loads the embedded engine, and the
 * embedded one never loads `pg` (both cost start-up time).
 */
import type { Db } from './db'
import { migrate } from './migrations'

export interface OpenOptions {
  databaseUrl?: string
  /** Directory of the embedded database; undefined keeps it in memory (tests). */
  dataDir?: string
}

export async function openDatabase(options: OpenOptions): Promise<Db> {
  const db = options.databaseUrl
    ? await (await import('./postgres')).openPostgres(options.databaseUrl)
    : await (await import('./pglite')).openPglite(options.dataDir)
  try {
    await migrate(db)
  } catch (error) {
    await db.close().catch(() => undefined)
    throw error
  }
  return db
}
