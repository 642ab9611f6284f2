/**
 * Per-repository token buckets for the exchange and federate endpoints.
 * In memory, per instance: N instances behind a balancer allow up to N times the burst.
 * The interface is async so a shared (database) implementation can replace it.
 */
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
