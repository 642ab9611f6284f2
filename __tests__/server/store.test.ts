import { afterAll, beforeAll, describe, expect, it } from '@jest/globals'
import type { Db } from '../../shared/server/store/db'
import { MIGRATIONS, migrate } from '../../shared/server/store/migrations'
import { openDatabase } from '../../shared/server/store/open'
import { OuterStoreInTransactionError, Store } from '../../shared/server/store/store'
import { MemoryRateLimiter } from '../../shared/server/rate-limit'
import { bodyHash, withIdempotency } from '../../shared/server/idempotency'
import { namespaceFor } from '../../shared/server/routes/federate/routes'

describe('store on the embedded database', () => {
  let db: Db
  let now = new Date('2026-01-01T00:00:00Z')
  let store: Store

  beforeAll(async () => {
    db = await openDatabase({})
    store = new Store(db, () => now)
  })
  afterAll(() => db.close())

  it('throws, instead of waiting forever, when the outer store is used inside one of its transactions', async () => {
    const id = '00000000-0000-4000-8000-000000000001'
    const outcome = store.transaction(async (tx) => {
      await tx.agents.get(id) // the transaction's own store works
      await store.agents.get(id) // the outer one would wait for this transaction to end
    })
    await expect(outcome).rejects.toThrow(OuterStoreInTransactionError)
    await expect(store.transaction(async () => store.transaction(async () => undefined))).rejects.toThrow(OuterStoreInTransactionError)
    // Outside, and in a concurrent flow, the outer store still works.
    const concurrent = store.transaction(async (tx) => tx.agents.get(id))
    await expect(Promise.all([store.agents.get(id), concurrent])).resolves.toEqual([undefined, undefined])
  })

  it('records applied migrations and does not apply them twice', async () => {
    const { rows } = await db.query<{ version: number }>('SELECT version FROM schema_migrations')
    expect(rows.map((r) => Number(r.version))).toEqual(MIGRATIONS.map((m) => m.version))
    expect(await migrate(db)).toEqual([])
  })

  it('applies a new migration version once', async () => {
    const next = { version: 9999, name: 'test only', sql: 'CREATE TABLE test_only (id integer PRIMARY KEY);' }
    expect(await migrate(db, [...MIGRATIONS, next])).toEqual([9999])
    expect(await migrate(db, [...MIGRATIONS, next])).toEqual([])
    await db.query('DROP TABLE test_only')
    await db.query('DELETE FROM schema_migrations WHERE version = 9999')
  })

  it('rolls a failing migration back completely', async () => {
    const broken = { version: 9998, name: 'broken', sql: 'CREATE TABLE half_done (id integer);\nSELECT no_such_function();' }
    await expect(migrate(db, [...MIGRATIONS, broken])).rejects.toThrow()
    const { rows } = await db.query("SELECT to_regclass('half_done') AS t")
    expect(rows[0]).toEqual({ t: null })
  })

  it('stores credentials without any usable secret', async () => {
    await store.credentials.create({
      kind: 'bootstrap',
      issuer: 'https://issuer.test',
      scope: 'agents:write',
      repository: 'a/b',
      repositoryId: '1',
      tokenSha256: 'f'.repeat(64),
      expiresAt: new Date(now.getTime() + 1000)
    })
    const { rows } = await db.query('SELECT * FROM credentials')
    expect(Object.keys(rows[0]!)).not.toContain('token')
  })

  it('idempotent responses expire after 24 h', async () => {
    const op = async () => ({ status: 201, body: { n: Math.random() } })
    const first = await withIdempotency(store, 'repo:1', 'k', { a: 1 }, op)
    const replay = await withIdempotency(store, 'repo:1', 'k', { a: 1 }, op)
    expect(replay).toEqual({ ...first, replayed: true })
    expect(first.replayed).toBeUndefined()
    await expect(withIdempotency(store, 'repo:1', 'k', { a: 2 }, op)).rejects.toMatchObject({ status: 422 })
    now = new Date(now.getTime() + 24 * 3600 * 1000 + 1)
    const later = await withIdempotency(store, 'repo:1', 'k', { a: 2 }, op)
    expect(later).not.toEqual(first)
    now = new Date(now.getTime() + 10)
    await store.idempotencyKeys.prune(1)
    const { rows } = await db.query('SELECT count(*)::int AS n FROM idempotency_keys')
    expect(rows[0]).toEqual({ n: 0 })
  })

  it('runs the operation once when requests with one key race, and every racer answers its response', async () => {
    let runs = 0
    const slowOp = async () => {
      runs++
      await new Promise((resolve) => setTimeout(resolve, 50))
      return { status: 201, body: { run: runs } }
    }
    const answers = await Promise.all(Array.from({ length: 8 }, () => withIdempotency(store, 'repo:race', 'k', { a: 1 }, slowOp)))
    expect(runs).toBe(1)
    // The racer that ran it answers it; the others answer the stored response, marked as a replay.
    expect(answers.map(({ status, body }) => ({ status, body }))).toEqual(Array.from({ length: 8 }, () => ({ status: 201, body: { run: 1 } })))
    expect(answers.filter((a) => a.replayed !== true)).toHaveLength(1)
  })

  it('gives the key up when the operation fails, so a retry runs it again', async () => {
    const failing = async (): Promise<{ status: number; body: unknown }> => {
      throw new Error('database went away')
    }
    await expect(withIdempotency(store, 'repo:fail', 'k', { a: 1 }, failing)).rejects.toThrow('database went away')
    const retried = await withIdempotency(store, 'repo:fail', 'k', { a: 1 }, async () => ({ status: 201, body: { ok: true } }))
    expect(retried).toEqual({ status: 201, body: { ok: true } })
  })

  it('takes over a claim whose server died before answering (pending for over a minute)', async () => {
    expect(await store.idempotencyKeys.claim('repo:dead', 'k', bodyHash({ a: 1 }), 86_400_000, 60_000)).toBe(true)
    now = new Date(now.getTime() + 61_000)
    const answer = await withIdempotency(store, 'repo:dead', 'k', { a: 1 }, async () => ({ status: 201, body: { mine: true } }))
    expect(answer).toEqual({ status: 201, body: { mine: true } })
  })

  it('hashes bodies independently of key order', () => {
    expect(bodyHash({ a: 1, b: { c: 2, d: 3 } })).toBe(bodyHash({ b: { d: 3, c: 2 }, a: 1 }))
    expect(bodyHash({ a: 1 })).not.toBe(bodyHash({ a: '1' }))
  })
})

describe('MemoryRateLimiter', () => {
  it('allows the burst, then refills at the configured rate', async () => {
    let t = 0
    const limiter = new MemoryRateLimiter(3, 60, () => t)
    for (let i = 0; i < 3; i++) expect(await limiter.take('r')).toEqual({ ok: true })
    expect(await limiter.take('r')).toEqual({ ok: false, retryAfterSeconds: 1 })
    expect(await limiter.take('other')).toEqual({ ok: true })
    t += 1000
    expect(await limiter.take('r')).toEqual({ ok: true })
    expect((await limiter.take('r')).ok).toBe(false)
  })
})

describe('namespaceFor', () => {
  const ISS = 'https://issuer.test'
  it('is readable, stable and tied to the issuer and the repository id', () => {
    expect(namespaceFor(ISS, 'Acme/Widgets.JS', '42')).toMatch(/^acme-widgets-js-[0-9a-f]{8}$/)
    expect(namespaceFor(ISS, 'acme/widgets', '42')).toBe(namespaceFor(ISS, 'acme/widgets', '42'))
    expect(namespaceFor(ISS, 'acme/widgets', '42')).not.toBe(namespaceFor(ISS, 'acme/widgets', '43'))
    expect(namespaceFor(ISS, 'acme/widgets', '42')).not.toBe(namespaceFor('https://other.test', 'acme/widgets', '42'))
    expect(namespaceFor(ISS, '---/___', '1')).toMatch(/^repo-[0-9a-f]{8}$/)
  })
})
