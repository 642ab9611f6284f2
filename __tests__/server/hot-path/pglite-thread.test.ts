/**
 * The embedded database on disk runs in a worker thread (store/pglite-thread.ts). What the
 * store relies on must hold across the thread boundary as it did in-process: values come back
 * with their types, database errors keep their SQLSTATE and constraint, a transaction holds
 * the database alone and rolls back when its callback throws, and a thread that dies fails
 * every call with a clear error instead of leaving callers waiting.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Db } from '../../../shared/server/store/db'
import { openPglite } from '../../../shared/server/store/pglite'

describe('embedded database in its own thread', () => {
  let dir: string
  let db: Db

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'federate-thread-'))
    db = await openPglite(join(dir, 'data'))
    await db.query('CREATE TABLE t (id int PRIMARY KEY, at timestamptz, doc jsonb, raw bytea, big bigint, name text UNIQUE)')
  }, 60_000)
  afterAll(async () => {
    await db?.close()
    rmSync(dir, { recursive: true, force: true })
  })

  it('runs statements off this thread: the event loop keeps turning while a long one runs', async () => {
    let ticks = 0
    const timer = setInterval(() => ticks++, 5)
    const start = performance.now()
    const { rows } = await db.query<{ n: number }>('SELECT count(*)::int AS n FROM generate_series(1, 2000000)')
    const elapsed = performance.now() - start
    clearInterval(timer)
    expect(rows).toEqual([{ n: 2_000_000 }])
    // In this thread, the statement would hold the event loop for all of its run: no tick.
    expect(elapsed).toBeGreaterThan(50)
    expect(ticks).toBeGreaterThanOrEqual(Math.floor(elapsed / 5 / 4))
  })

  it('returns values with their types and takes parameters of every kind', async () => {
    const at = new Date('2026-12-02T10:11:12.345Z')
    const raw = Buffer.from([0, 1, 2, 255])
    const inserted = await db.query('INSERT INTO t VALUES ($1, $2, $3, $4, $5, $6)', [1, at, { a: [1, 'x'], b: null }, raw, '9007199254740993', 'one'])
    expect(inserted.rowCount).toBe(1)
    const { rows } = await db.query<{ id: number; at: Date; doc: unknown; raw: Uint8Array; big: unknown }>('SELECT id, at, doc, raw, big FROM t WHERE id = $1', [1])
    expect(rows).toHaveLength(1)
    // A Date, though of this process's main realm (postMessage), not of the test's sandbox.
    expect(Object.prototype.toString.call(rows[0]!.at)).toBe('[object Date]')
    expect(rows[0]!.at.toISOString()).toBe(at.toISOString())
    expect(rows[0]!.doc).toEqual({ a: [1, 'x'], b: null })
    expect(Buffer.from(rows[0]!.raw).equals(raw)).toBe(true)
    expect(String(rows[0]!.big)).toBe('9007199254740993')
    expect((await db.query('UPDATE t SET name = name WHERE id >= 0')).rowCount).toBe(1)
  })

  it('keeps the SQLSTATE, constraint and message of a database error', async () => {
    const failure = (await db.query('INSERT INTO t (id, name) VALUES (2, $1)', ['one']).catch((error: unknown) => error)) as Record<string, unknown>
    expect(failure).toBeInstanceOf(Error)
    expect(failure.code).toBe('23505')
    expect(failure.constraint).toBe('t_name_key')
    expect(String(failure.message)).toContain('duplicate key')
    // The session goes on after an error.
    expect((await db.query('SELECT count(*)::int AS n FROM t')).rows).toEqual([{ n: 1 }])
  })

  it('holds the database alone during a transaction: a statement sent from outside waits for its end', async () => {
    let outside: Promise<unknown> | undefined
    let answeredInside = false
    await db.transaction(async (tx) => {
      await tx.query('INSERT INTO t (id) VALUES (10)')
      outside = db.query<{ n: number }>('SELECT count(*)::int AS n FROM t WHERE id >= 10 AND id < 20').then((r) => {
        answeredInside = true
        return r.rows[0]
      })
      await new Promise((resolve) => setTimeout(resolve, 50))
      expect(answeredInside).toBe(false)
      await tx.query('INSERT INTO t (id) VALUES (11)')
    })
    // It ran after the commit: it saw both rows, not one.
    expect(await outside).toEqual({ n: 2 })
  })

  it('rolls a transaction back when its callback throws, and the next one still runs', async () => {
    await expect(
      db.transaction(async (tx) => {
        await tx.query('INSERT INTO t (id) VALUES (20)')
        throw new Error('stop here')
      })
    ).rejects.toThrow('stop here')
    expect((await db.query('SELECT count(*)::int AS n FROM t WHERE id = 20')).rows).toEqual([{ n: 0 }])
    expect(await db.transaction(async (tx) => (await tx.query('SELECT 2 AS two')).rows)).toEqual([{ two: 2 }])
  })

  it('transactions queued at once run one after the other, none lost', async () => {
    await Promise.all(
      Array.from({ length: 8 }, (_, i) =>
        db.transaction(async (tx) => {
          const { rows } = await tx.query<{ n: number }>('SELECT count(*)::int AS n FROM t WHERE id >= 100')
          await tx.query('INSERT INTO t (id) VALUES ($1)', [100 + rows[0]!.n])
          return i
        })
      )
    )
    expect((await db.query('SELECT array_agg(id ORDER BY id) AS ids FROM t WHERE id >= 100')).rows[0]).toEqual({ ids: [100, 101, 102, 103, 104, 105, 106, 107] })
  })

  it('keeps what was committed across a close and a reopen', async () => {
    await db.close()
    db = await openPglite(join(dir, 'data'))
    expect((await db.query('SELECT count(*)::int AS n FROM t')).rows).toEqual([{ n: 11 }])
  }, 60_000)

  it('fails calls with a clear error once closed, instead of leaving them waiting', async () => {
    const other = await openPglite(join(dir, 'data-2'))
    await other.close()
    await expect(other.query('SELECT 1')).rejects.toThrow('the embedded database was closed')
  }, 60_000)
})
