/**
 * The tiny query interface the store's SQL runs on. Two drivers implement it: embedded
 * PGlite (default) and PostgreSQL through a `pg` Pool. Same SQL for both.
 */
export interface QueryResult<Row> {
  rows: Row[]
  rowCount: number
}

export interface Queryable {
  query<Row = Record<string, unknown>>(sql: string, params?: unknown[]): Promise<QueryResult<Row>>
}

export interface Db extends Queryable {
  /** Runs fn in one transaction on one connection; rolls back when it throws. */
  transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T>
  close(): Promise<void>
  /**
   * 'pglite' or 'postgres'. Selects behaviour, not only the start-up banner: rate-limit
   * buckets in the database (PostgreSQL) or in memory, the in-memory exchange cache and
   * prepared credential batches (embedded only), migrations at every open (PostgreSQL), and
   * the `driver` label of /metrics.
   */
  readonly kind: 'pglite' | 'postgres'
  /** Connection pool counts (PostgreSQL only), for /metrics. */
  poolStats?(): { total: number; idle: number; waiting: number; max: number }
}
