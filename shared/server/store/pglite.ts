/** Embedded PostgreSQL (PGlite) on disk in DATA_DIR, or in memory for tests. */
import { mkdir } from 'node:fs/promises'
import { PGlite } from '@electric-sql/pglite'
import type { Db, Queryable, QueryResult } from './db'

function adapt(target: { query: PGlite['query'] }): Queryable {
  return {
    async query<Row>(sql: string, params: unknown[] = []): Promise<QueryResult<Row>> {
      const result = await target.query<Row>(sql, params)
      return { rows: result.rows, rowCount: result.affectedRows ?? result.rows.length }
    }
  }
}

/** Opens (creating if needed) the embedded database; `dataDir` undefined keeps it in memory. */
export async function openPglite(dataDir?: string): Promise<Db> {
  if (dataDir) await mkdir(dataDir, { recursive: true, mode: 0o700 })
  const pg = await PGlite.create(dataDir)
  const base = adapt(pg)
  return {
    kind: 'pglite',
    query: base.query,
    transaction: (fn) => pg.transaction((tx) => fn(adapt(tx))),
    close: () => pg.close()
  }
}
