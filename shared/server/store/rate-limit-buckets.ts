/** Token buckets shared by every instance on PostgreSQL (table rate_limit_buckets); rate-limit.ts decides with them. */
import type { Queryable } from './db'

export interface BucketState {
  key: string
  /** Of the takes asked for this key, how many the bucket granted. */
  granted: number
  /** Tokens left after them. */
  tokens: number
}

export class RateLimitBucketRepository {
  constructor(private readonly db: Queryable) {}

  /**
   * Takes `counts[i]` tokens from bucket `keys[i]` in one atomic upsert (the row lock
   * serializes concurrent takes on every instance): each bucket refills at `perSecond` up to
   * `burst` since its last update, grants what it holds of what was asked, and keeps the rest.
   * The clock never runs backwards: an instance with a slower clock refills nothing.
   */
  async take(keys: string[], counts: number[], burst: number, perSecond: number, at: Date): Promise<BucketState[]> {
    const refilled = 'LEAST($3::float8, b.tokens + GREATEST(0, EXTRACT(EPOCH FROM ($5::timestamptz - b.updated_at))) * $4::float8)'
    // EXCLUDED.granted is min(n, floor(burst)); since refilled <= burst, min(it, floor(refilled))
    // is min(n, floor(refilled)): what the bucket can give of the n asked for.
    const given = `LEAST(EXCLUDED.granted, floor(${refilled}))`
    const { rows } = await this.db.query<BucketState>(
      `INSERT INTO rate_limit_buckets AS b (key, tokens, updated_at, allowed, granted)
       SELECT r.key, $3::float8 - r.g, $5::timestamptz, r.g >= 1, r.g
       FROM (SELECT u.key, LEAST(u.n, floor($3::float8))::int AS g FROM unnest($1::text[], $2::int[]) AS u(key, n)) r
       ON CONFLICT (key) DO UPDATE SET
         granted = ${given}::int,
         allowed = ${given} >= 1,
         tokens = ${refilled} - ${given},
         updated_at = GREATEST(b.updated_at, $5::timestamptz)
       RETURNING key, granted, tokens`,
      [keys, counts, burst, perSecond, at]
    )
    return rows.map((row) => ({ key: row.key, granted: Number(row.granted), tokens: Number(row.tokens) }))
  }

  /** Deletes buckets untouched since `before` (full again: as good as absent); returns how many. */
  async deleteUntouchedSince(before: Date): Promise<number> {
    return (await this.db.query('DELETE FROM rate_limit_buckets WHERE updated_at < $1', [before])).rowCount
  }
}
