/** PostgreSQL through a `pg` Pool (DATABASE_URL=postgres://...). */
import pg from 'pg'
import type { Db, Queryable, QueryResult } from './db'

function adapt(target: pg.Pool | pg.PoolClient): Queryable {
  return {
    async query<Row>(sql: string, params: unknown[] = []): Promise<QueryResult<Row>> {
      const result = await target.query(sql, params)
      return { rows: result.rows as Row[], rowCount: result.rowCount ?? result.rows.length }
    }
  }
}

export async function openPostgres(connectionString: string, maxConnections = 10): Promise<Db> {
  const pool = new pg.Pool({ connectionString, max: maxConnections })
  // An idle client's network error must not crash the process; the next query reconnects.
  pool.on('error', () => undefined)
  const base = adapt(pool)
  await base.query('SELECT 1')
  return {
    kind: 'postgres',
    // Read by /metrics (metrics.ts).
    poolStats: () => ({ total: pool.totalCount, idle: pool.idleCount, waiting: pool.waitingCount, max: maxConnections }),
    query: (sql, params) => base.query(sql, params),
    async transaction(fn) {
      const client = await pool.connect()
      try {
        await client.query('BEGIN')
        const result = await fn(adapt(client))
        await client.query('COMMIT')
        return result
      } catch (error) {
        await client.query('ROLLBACK').catch(() => undefined)
        throw error
      } finally {
        client.release()
      }
    },
    close: () => pool.end()
  }
}
