/** Picks the driver from the configuration and brings the schema up to date. */
import type { Db } from './db'
import { migrate } from './migrations'
import { openPglite } from './pglite'
import { openPostgres } from './postgres'

export interface OpenOptions {
  databaseUrl?: string
  /** Directory of the embedded database; undefined keeps it in memory (tests). */
  dataDir?: string
}

export async function openDatabase(options: OpenOptions): Promise<Db> {
  const db = options.databaseUrl ? await openPostgres(options.databaseUrl) : await openPglite(options.dataDir)
  try {
    await migrate(db)
  } catch (error) {
    await db.close().catch(() => undefined)
    throw error
  }
  return db
}
