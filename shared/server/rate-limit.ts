/**
 * Per-repository token buckets for the exchange and federate endpoints.
 * MemoryRateLimiter: per instance (the embedded database has one instance anyway).
 * DatabaseRateLimiter: one bucket per key in the database, so N instances on one PostgreSQL
 * share it (N per-instance buckets would allow N times the burst).
 */
import { BatchQueue } from './store/batch-queue'
import type { Queryable } from './store/db'
import { RateLimitBucketRepository } from './store/rate-limit-buckets'

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
 * The same token bucket kept in the table rate_limit_buckets (store/rate-limit-buckets.ts)
 * and updated in one atomic upsert.
 *
 * Concurrent takes share one statement (BatchQueue): n takes of one key ask the bucket for n
 * tokens at once and the first `granted` callers, in arrival order, get them. One round trip
 * and one row lock per batch instead of per request: a busy repository's bucket row is
 * otherwise what every one of its requests queues on.
 */
export class DatabaseRateLimiter implements RateLimiter {
  private readonly queue: BatchQueue<string, RateDecision>
  private takes = 0

  private readonly buckets: RateLimitBucketRepository

  constructor(
    db: Queryable,
    private readonly burst: number,
    private readonly perMinute: number,
    private readonly now: () => number = Date.now
  ) {
    this.buckets = new RateLimitBucketRepository(db)
    this.queue = new BatchQueue((keys) => this.takeAll(keys))
  }

  take(key: string): Promise<RateDecision> {
    // Now and then, drop buckets that are full again (as good as absent): one row per active repository.
    if (++this.takes % 1000 === 0) void this.prune().catch(() => undefined)
    return this.queue.add(key)
  }

  /** One decision per key of `keys` (repeats allowed), in order. */
  private async takeAll(keys: string[]): Promise<RateDecision[]> {
    const wanted = new Map<string, number>()
    for (const key of keys) wanted.set(key, (wanted.get(key) ?? 0) + 1)
    const perSecond = this.perMinute / 60
    const states = await this.buckets.take([...wanted.keys()], [...wanted.values()], this.burst, perSecond, new Date(this.now()))
    const left = new Map(states.map((state) => [state.key, state]))
    return keys.map((key) => {
      const bucket = left.get(key)!
      if (bucket.granted > 0) {
        bucket.granted--
        return { ok: true }
      }
      return { ok: false, retryAfterSeconds: Math.max(1, Math.ceil((1 - bucket.tokens) / perSecond)) }
    })
  }

  /** Deletes buckets untouched for longer than a full refill takes; returns how many. */
  async prune(): Promise<number> {
    const fullAfterMs = (this.burst / this.perMinute) * 60_000
    return this.buckets.deleteUntouchedSince(new Date(this.now() - fullAfterMs))
  }
}
