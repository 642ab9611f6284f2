/**
 * The database-backed token bucket (what instances on one PostgreSQL share), on the embedded
 * database with a hand-moved clock: burst, refusal with Retry-After, refill, per-key buckets,
 * two limiters on one database sharing one bucket, a clock running backwards.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals'
import { DatabaseRateLimiter } from '../../shared/server/rate-limit'
import type { Db } from '../../shared/server/store/db'
import { openDatabase } from '../../shared/server/store/open'

describe('DatabaseRateLimiter', () => {
  let db: Db
  let clock = Date.parse('2026-01-01T00:00:00Z')
  const now = (): number => clock

  beforeAll(async () => {
    db = await openDatabase({})
  })
  afterAll(() => db.close())

  it('allows the burst, then refuses with Retry-After until the bucket refills', async () => {
    const limiter = new DatabaseRateLimiter(db, 3, 6, now) // one token per 10 s
    for (let i = 0; i < 3; i++) expect(await limiter.take('repo:a')).toEqual({ ok: true })
    expect(await limiter.take('repo:a')).toEqual({ ok: false, retryAfterSeconds: 10 })
    clock += 4_000
    expect(await limiter.take('repo:a')).toEqual({ ok: false, retryAfterSeconds: 6 })
    clock += 6_000
    expect(await limiter.take('repo:a')).toEqual({ ok: true })
    expect((await limiter.take('repo:a')).ok).toBe(false)
    // Another key has its own bucket.
    expect(await limiter.take('repo:b')).toEqual({ ok: true })
  })

  it('two limiters on one database (two instances) spend one bucket', async () => {
    const a = new DatabaseRateLimiter(db, 4, 1, now)
    const b = new DatabaseRateLimiter(db, 4, 1, now)
    const results = await Promise.all([a, b, a, b, a, b].map((l) => l.take('repo:shared')))
    expect(results.filter((r) => r.ok)).toHaveLength(4)
  })

  it('concurrent takes share one statement; the first ones in arrival order get the tokens', async () => {
    let statements = 0
    const counting = { query: (sql: string, params?: unknown[]) => ((statements += sql.includes('rate_limit_buckets') ? 1 : 0), db.query(sql, params)) }
    const limiter = new DatabaseRateLimiter(counting as unknown as Db, 4, 6, now)
    const keys = ['repo:c', 'repo:c', 'repo:d', 'repo:c', 'repo:c', 'repo:c', 'repo:d', 'repo:c']
    const results = await Promise.all(keys.map((key) => limiter.take(key)))
    expect(statements).toBe(1)
    expect(results.map((r) => r.ok)).toEqual([true, true, true, true, true, false, true, false])
    expect(results[5]).toEqual({ ok: false, retryAfterSeconds: 10 })
    // The bucket was spent, not reset, by the batch: one more take 10 s later is the refill.
    clock += 10_000
    expect(await Promise.all([limiter.take('repo:c'), limiter.take('repo:c')])).toEqual([{ ok: true }, { ok: false, retryAfterSeconds: 10 }])
  })

  it('a batch asking an existing bucket for more than it holds gets only what it holds', async () => {
    const limiter = new DatabaseRateLimiter(db, 3, 6, now)
    expect((await limiter.take('repo:e')).ok).toBe(true) // 2 left
    clock += 5_000 // + 0.5
    const results = await Promise.all(Array.from({ length: 5 }, () => limiter.take('repo:e')))
    expect(results.filter((r) => r.ok)).toHaveLength(2)
    expect(results.slice(2)).toEqual(Array(3).fill({ ok: false, retryAfterSeconds: 5 }))
  })

  it('a clock that runs backwards refills nothing', async () => {
    const limiter = new DatabaseRateLimiter(db, 1, 60, now)
    expect((await limiter.take('repo:skew')).ok).toBe(true)
    clock -= 120_000
    expect((await limiter.take('repo:skew')).ok).toBe(false)
  })

  it('prunes only buckets that are full again', async () => {
    const limiter = new DatabaseRateLimiter(db, 2, 60, now) // full 2 s after the last take
    await limiter.take('repo:old')
    clock += 5_000
    await limiter.take('repo:recent')
    const before = await db.query<{ key: string }>("SELECT key FROM rate_limit_buckets WHERE key IN ('repo:old', 'repo:recent')")
    expect(before.rows).toHaveLength(2)
    await limiter.prune()
    const after = await db.query<{ key: string }>("SELECT key FROM rate_limit_buckets WHERE key IN ('repo:old', 'repo:recent')")
    expect(after.rows.map((r) => r.key)).toEqual(['repo:recent'])
    // A pruned bucket starts full again.
    expect(await limiter.take('repo:old')).toEqual({ ok: true })
  })
})
