/**
 * Per-repository token buckets for the exchange and federate endpoints.
 * MemoryRateLimiter: per instance (the embedded database has one instance anyway).
 * DatabaseRateLimiter: one bucket per key in the database, so N instances on one PostgreSQL
 * share it (N per-instance buckets would allow N times the burst).
 */
import type { Queryable } from './store/db'

export type RateDecision = { ok: true } | { ok: false; retryAfterSeconds: number }

export interface RateLimiter {
  take(key: string): Promise<RateDecision>
}

export class MemoryRateLimiter implements RateLimiter {
  private readonly buckets = new Map<string, { tokens: number; at: number }>()

  constructor(
    private readonly burst: number,
    private readonly perMinute: number,
    private readonly now: () => number = Date.now
  ) {}

  async take(key: string): Promise<RateDecision> {
    const now = this.now()
    const refillPerMs = this.perMinute / 60_000
    const bucket = this.buckets.get(key) ?? { tokens: this.burst, at: now }
    bucket.tokens = Math.min(this.burst, bucket.tokens + (now - bucket.at) * refillPerMs)
    bucket.at = now
    this.buckets.set(key, bucket)
    if (this.buckets.size > 100_000) this.evictFull(now, refillPerMs)
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1
      return { ok: true }
    }
    return { ok: false, retryAfterSeconds: Math.max(1, Math.ceil((1 - bucket.tokens) / refillPerMs / 1000)) }
  }

  /** Buckets that refilled completely carry no state worth keeping. */
  private evictFull(now: number, refillPerMs: number): void {
    for (const [key, b] of this.buckets) {
      if (b.tokens + (now - b.at) * refillPerMs >= this.burst) this.buckets.delete(key)
    }
  }
}

/**
 * The same token bucket kept in the table rate_limit_buckets and updated in one atomic
 * upsert (the row lock serializes concurrent takes on every instance). Uses the caller's
 * clock, never running backwards: an instance with a slower clock refills nothing.
 */
export class DatabaseRateLimiter implements RateLimiter {
  constructor(
    private readonly db: Queryable,
    private readonly burst: number,
    private readonly perMinute: number,
    private readonly now: () => number = Date.now
  ) {}

  private takes = 0

  async take(key: string): Promise<RateDecision> {
    // Now and then, drop buckets that are full again (as good as absent): one row per active repository.
    if (++this.takes % 1000 === 0) void this.prune().catch(() => undefined)
    const perSecond = this.perMinute / 60
    const refilled = 'LEAST($2::float8, b.tokens + GREATEST(0, EXTRACT(EPOCH FROM ($4::timestamptz - b.updated_at))) * $3::float8)'
    const { rows } = await this.db.query<{ allowed: boolean; tokens: number }>(
      `INSERT INTO rate_limit_buckets AS b (key, tokens, updated_at, allowed)
       VALUES ($1, $2::float8 - 1, $4::timestamptz, true)
       ON CONFLICT (key) DO UPDATE SET
         allowed = ${refilled} >= 1,
         tokens = ${refilled} - CASE WHEN ${refilled} >= 1 THEN 1 ELSE 0 END,
         updated_at = GREATEST(b.updated_at, $4::timestamptz)
       RETURNING allowed, tokens`,
      [key, this.burst, perSecond, new Date(this.now())]
    )
    const row = rows[0]!
    if (row.allowed) return { ok: true }
    return { ok: false, retryAfterSeconds: Math.max(1, Math.ceil((1 - Number(row.tokens)) / perSecond)) }
  }

  /** Deletes buckets untouched for longer than a full refill takes; returns how many. */
  async prune(): Promise<number> {
    const fullAfterMs = (this.burst / this.perMinute) * 60_000
    const { rowCount } = await this.db.query('DELETE FROM rate_limit_buckets WHERE updated_at < $1', [new Date(this.now() - fullAfterMs)])
    return rowCount
  }
}
