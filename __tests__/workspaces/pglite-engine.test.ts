/**
 * The embedded workspace engine: one PGlite instance per workspace in a worker thread, as the
 * non-superuser role `workspace`, with the time limit enforced by terminating the worker. One
 * root (and so one template, one initdb) for the whole file; each test uses workspaces of its own.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals'
import { mkdtempSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { ApiError } from '../../shared/server/errors'
import type { RunLimits, RunRequest, WorkspaceHandle } from '../../shared/server/workspaces/engine'
import { EmbeddedWorkspaceEngine } from '../../shared/server/workspaces/pglite-engine'
import { encodeParam, toStatementResult } from '../../shared/server/workspaces/values'

const LIMITS: RunLimits = { statementTimeoutMs: 5000, maxRows: 1000, maxResultBytes: 1_000_000, maxBytes: 10_000_000 }

let root: string
let engine: EmbeddedWorkspaceEngine
let counter = 0

/** A new provisioned workspace. */
async function workspace(): Promise<WorkspaceHandle> {
  const handle = { engineName: `w_test_${++counter}` }
  await engine.provision(handle)
  return handle
}

function request(statements: (string | [string, unknown[]])[], options: Partial<Omit<RunRequest, 'statements'>> = {}): RunRequest {
  return {
    statements: statements.map((s) => (typeof s === 'string' ? { sql: s, params: [] } : { sql: s[0], params: s[1].map(encodeParam) })),
    transaction: false,
    readOnly: false,
    overQuota: false,
    limits: LIMITS,
    ...options
  }
}

/** Runs and decodes; the rows of each statement. */
async function rows(handle: WorkspaceHandle, statements: (string | [string, unknown[]])[], options: Partial<Omit<RunRequest, 'statements'>> = {}): Promise<unknown[][][]> {
  const outcome = await engine.run(handle, request(statements, options))
  return outcome.results.map((raw) => toStatementResult(raw).rows)
}

/** The ApiError a request fails with. */
async function failure(handle: WorkspaceHandle, statements: (string | [string, unknown[]])[], options: Partial<Omit<RunRequest, 'statements'>> = {}): Promise<ApiError> {
  const error = await engine.run(handle, request(statements, options)).then(
    () => undefined,
    (e: unknown) => e
  )
  if (!(error instanceof ApiError)) throw new Error(`expected an ApiError, got ${String(error)}`)
  return error
}

const tableExists = async (handle: WorkspaceHandle, table: string): Promise<boolean> =>
  (await rows(handle, [[`SELECT pg_catalog.to_regclass($1) IS NOT NULL`, [table]]]))[0]?.[0]?.[0] === true

beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), 'federate-workspaces-'))
  engine = new EmbeddedWorkspaceEngine({ root: join(root, 'workspaces') })
})

afterAll(async () => {
  await engine.close()
  rmSync(root, { recursive: true, force: true })
})

describe('provision', () => {
  it('copies the template once, concurrently or not, into an owner-only directory', async () => {
    const handle = { engineName: 'w_provision' }
    await Promise.all([engine.provision(handle), engine.provision(handle), engine.provision(handle)])
    await rows(handle, ['CREATE TABLE kept (a int)'])
    await engine.provision(handle) // an existing database is kept as it is
    expect(await tableExists(handle, 'kept')).toBe(true)
    expect(statSync(join(root, 'workspaces', 'w_provision')).mode & 0o777).toBe(0o700)
    expect(statSync(join(root, 'workspaces', 'w_provision', 'PG_VERSION')).mode & 0o077).toBe(0)
  })

  it('refuses names that are not a plain directory name', async () => {
    await expect(engine.provision({ engineName: '../x' })).rejects.toThrow(/not a workspace engine name/)
    await expect(engine.provision({ engineName: '.template' })).rejects.toThrow(/not a workspace engine name/)
  })
})

describe('statements', () => {
  it('runs as the workspace role, with $n parameters, and values decode to JSON', async () => {
    const w = await workspace()
    const [[[user]]] = (await rows(w, ["SELECT session_user::text || '/' || current_user::text"])) as [[[string]]]
    expect(user).toBe('workspace/workspace')
    await rows(w, ['CREATE TABLE t (i int4, b int8, n numeric, f bool, j jsonb, y bytea, ts timestamptz, a int[], z text)'])
    const inserted = await engine.run(
      w,
      request([
        [
          'INSERT INTO t VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)',
          [42, '9007199254740993', '1.10', true, { k: [1, 'x'] }, '\\x0102ff', '2024-01-02T03:04:05Z', [1, 2, 3], null]
        ]
      ])
    )
    expect(toStatementResult(inserted.results[0]!).rowsWritten).toBe(1)
    expect(inserted.bytes).toBeGreaterThan(0)
    const row = (await rows(w, ['SELECT * FROM t']))[0]?.[0]
    expect(row).toEqual([42, '9007199254740993', '1.10', true, { k: [1, 'x'] }, Buffer.from([1, 2, 255]).toString('base64'), '2024-01-02T03:04:05Z', [1, 2, 3], null])
  })

  it('refuses two statements in one', async () => {
    const w = await workspace()
    const error = await failure(w, ['SELECT 1; SELECT 2'])
    expect(error.code).toBe('sql_error')
    expect(error.fields).toMatchObject({ sqlstate: '42601', statement: 0 })
  })

  it('a transaction batch rolls back on failure; without one, earlier statements stay', async () => {
    const w = await workspace()
    await rows(w, ['CREATE TABLE t (a int PRIMARY KEY)'])
    const error = await failure(w, ['INSERT INTO t VALUES (1)', 'INSERT INTO t VALUES (1)'], { transaction: true })
    expect(error.fields).toMatchObject({ sqlstate: '23505', statement: 1 })
    expect(await rows(w, ['SELECT count(*)::int FROM t'])).toEqual([[[0]]])
    await failure(w, ['INSERT INTO t VALUES (1)', 'INSERT INTO t VALUES (1)'])
    expect(await rows(w, ['SELECT count(*)::int FROM t'])).toEqual([[[1]]])
  })

  it('reads at most maxRows + 1 rows', async () => {
    const w = await workspace()
    const error = await failure(w, ['SELECT * FROM generate_series(1, 1000000)'], { limits: { ...LIMITS, maxRows: 10 } })
    expect(error.code).toBe('result_too_large')
  })

  it('session state does not outlive a request', async () => {
    const w = await workspace()
    await rows(w, ["SET search_path = 'nowhere'", 'CREATE TEMP TABLE tmp (a int)'])
    expect(await rows(w, ['SHOW search_path'])).toEqual([[['public']]])
    expect(await tableExists(w, 'pg_temp.tmp')).toBe(false)
  })
})

describe('time limit', () => {
  it('ends pg_sleep and a CPU loop; the next request reopens the instance and committed rows are there', async () => {
    const w = await workspace()
    await rows(w, ['CREATE TABLE t (a int)', 'INSERT INTO t VALUES (1), (2)'])
    const limits = { ...LIMITS, statementTimeoutMs: 300 }
    const started = Date.now()
    const sleep = await failure(w, ['SELECT 1', 'SELECT pg_sleep(10)'], { limits })
    expect(Date.now() - started).toBeLessThan(3000)
    expect(sleep.code).toBe('statement_timeout')
    expect(sleep.fields).toMatchObject({ statement: 1 })
    expect(await rows(w, ['SELECT count(*)::int FROM t'])).toEqual([[[2]]])

    const loop = await failure(w, ['SELECT count(*) FROM generate_series(1, 1e10)'], { limits })
    expect(loop.code).toBe('statement_timeout')
    expect(await rows(w, ['SELECT count(*)::int FROM t'])).toEqual([[[2]]])
  })

  it('bounds the whole request by requestTimeoutMs', async () => {
    const w = await workspace()
    const error = await failure(w, ['SELECT pg_sleep(0.2)', 'SELECT pg_sleep(10)'], { limits: { ...LIMITS, requestTimeoutMs: 600 } })
    expect(error.code).toBe('statement_timeout')
    expect(error.message).toMatch(/request ran longer than 600 ms/)
    expect(error.fields).toMatchObject({ statement: 1 })
  })
})

describe('role', () => {
  it('SET ROLE postgres is refused by PostgreSQL', async () => {
    const w = await workspace()
    expect((await failure(w, ['SET ROLE postgres'])).fields).toMatchObject({ sqlstate: '42501' })
  })

  it.each(['SET SESSION AUTHORIZATION postgres', "SELECT set_config('session_authorization', 'postgres', false)"])(
    '%s is refused and rolled back, alone or in a transaction; the next request runs as workspace',
    async (change) => {
      const w = await workspace()
      const asWorkspace = async (): Promise<void> => expect(await rows(w, ['SELECT session_user::text || current_user::text'])).toEqual([[['workspaceworkspace']]])
      const alone = await failure(w, [change])
      expect(alone.status).toBe(403)
      expect(alone.code).toBe('forbidden')
      await asWorkspace()
      const batch = await failure(w, ['CREATE TABLE made (a int)', change], { transaction: true })
      expect(batch.code).toBe('forbidden')
      expect(batch.fields).toMatchObject({ statement: 1 })
      expect(await tableExists(w, 'made')).toBe(false)
      await asWorkspace()
    }
  )

  it('RESET SESSION AUTHORIZATION keeps the workspace role (PGlite never records the bootstrap user as its reset value)', async () => {
    const w = await workspace()
    expect(await rows(w, ['RESET SESSION AUTHORIZATION', 'SET SESSION AUTHORIZATION DEFAULT', 'SELECT session_user::text || current_user::text'])).toEqual([
      [],
      [],
      [['workspaceworkspace']]
    ])
  })

  it('a role change inside one statement is rolled back with what that statement did', async () => {
    const w = await workspace()
    const error = await failure(w, [`DO $$ BEGIN CREATE TABLE made (a int); PERFORM set_config('session_authorization', 'postgres', false); END $$`])
    expect(error.code).toBe('forbidden')
    expect(await tableExists(w, 'made')).toBe(false)
  })

  it('a role change undone in the same statement still cannot leave the workspace role stronger', async () => {
    const w = await workspace()
    const error = await failure(w, [
      `DO $$ BEGIN PERFORM set_config('session_authorization', 'postgres', false); ALTER ROLE workspace SUPERUSER; PERFORM set_config('session_authorization', 'workspace', false); END $$`
    ])
    expect(error.code).toBe('forbidden')
    expect(await rows(w, ["SELECT rolsuper FROM pg_roles WHERE rolname = 'workspace'"])).toEqual([[[false]]])
  })

  it('COPY TO PROGRAM as the superuser breaks the session: the instance is thrown away, its transaction lost, and opened again', async () => {
    const w = await workspace()
    const error = await failure(w, [
      `DO $$ BEGIN CREATE TABLE made (a int); PERFORM set_config('session_authorization', 'postgres', false); COPY (SELECT 1) TO PROGRAM 'id'; END $$`
    ])
    expect(error.status).toBe(503)
    expect(error.code).toBe('workspace_unavailable')
    expect(await rows(w, ['SELECT session_user::text || current_user::text'])).toEqual([[['workspaceworkspace']]])
    expect(await tableExists(w, 'made')).toBe(false)
  })

  it('superuser-only functions and COPY TO PROGRAM are refused', async () => {
    const w = await workspace()
    expect((await failure(w, ["SELECT pg_ls_dir('.')"])).fields).toMatchObject({ sqlstate: '42501' })
    expect((await failure(w, ["COPY (SELECT 1) TO PROGRAM 'id'"])).fields).toMatchObject({ sqlstate: '42501' })
  })
})

describe('instances', () => {
  it('keeps at most maxOpen open; data persists across closing and a new engine on the same root', async () => {
    const small = new EmbeddedWorkspaceEngine({ root: join(root, 'workspaces'), maxOpen: 2 })
    const handles = [await workspace(), await workspace(), await workspace()]
    try {
      for (const [i, w] of handles.entries()) {
        await small.run(w, request(['CREATE TABLE t (a int)', ['INSERT INTO t VALUES ($1)', [i]]]))
        expect(small.stats().open).toBeLessThanOrEqual(2)
      }
      for (const [i, w] of handles.entries()) {
        const outcome = await small.run(w, request(['SELECT a FROM t']))
        expect(toStatementResult(outcome.results[0]!).rows).toEqual([[i]])
        expect(small.stats().open).toBeLessThanOrEqual(2)
      }
      await small.evict(handles[2]!)
      expect(small.stats().open).toBeLessThanOrEqual(1)
    } finally {
      await small.close()
    }
    expect(small.stats().open).toBe(0)
    const again = new EmbeddedWorkspaceEngine({ root: join(root, 'workspaces') })
    try {
      const outcome = await again.run(handles[0]!, request(['SELECT a FROM t']))
      expect(toStatementResult(outcome.results[0]!).rows).toEqual([[0]])
    } finally {
      await again.close()
    }
  })

  it('an instance that ends under a request answers workspace_unavailable; the next request opens it again', async () => {
    const w = await workspace()
    await rows(w, ['CREATE TABLE t (a int)', 'INSERT INTO t VALUES (1)'])
    const pending = failure(w, ['SELECT pg_sleep(10)'])
    await new Promise((resolve) => setTimeout(resolve, 200))
    await engine.evict(w)
    const error = await pending
    expect(error.status).toBe(503)
    expect(error.code).toBe('workspace_unavailable')
    expect(await rows(w, ['SELECT count(*)::int FROM t'])).toEqual([[[1]]])
  })

  it('closes an idle instance after idleMs', async () => {
    const quick = new EmbeddedWorkspaceEngine({ root: join(root, 'workspaces'), idleMs: 100 })
    try {
      const w = await workspace()
      await quick.run(w, request(['SELECT 1']))
      expect(quick.stats().open).toBe(1)
      await new Promise((resolve) => setTimeout(resolve, 600))
      expect(quick.stats().open).toBe(0)
      expect((await quick.run(w, request(['SELECT 1']))).results).toHaveLength(1)
    } finally {
      await quick.close()
    }
  })
})

describe('quota, size and tables', () => {
  it('over quota: an INSERT is refused and rolled back; SELECT and DELETE work', async () => {
    const w = await workspace()
    await rows(w, ['CREATE TABLE t (a int)', 'INSERT INTO t SELECT generate_series(1, 10)'])
    const error = await failure(w, ['INSERT INTO t SELECT generate_series(1, 10000)'], { overQuota: true })
    expect(error.code).toBe('quota_exceeded')
    expect(await rows(w, ['SELECT count(*)::int FROM t'], { overQuota: true })).toEqual([[[10]]])
    await rows(w, ['DELETE FROM t WHERE a > 5'], { overQuota: true })
    expect(await rows(w, ['SELECT count(*)::int FROM t'])).toEqual([[[5]]])
  })

  it('size() is small when empty and grows; tables() counts rows exactly', async () => {
    const w = await workspace()
    const empty = await engine.size(w, LIMITS)
    expect(empty).toBeLessThan(100_000)
    expect(await engine.tables(w, LIMITS)).toEqual([])
    await rows(w, ['CREATE TABLE t (a text)', "INSERT INTO t SELECT repeat('x', 100) FROM generate_series(1, 2000)", 'CREATE SCHEMA s', 'CREATE TABLE s."odd name" (a int)'])
    expect(await engine.size(w, LIMITS)).toBeGreaterThan(empty + 100_000)
    // In TABLES_SQL's order: by schema, then name.
    expect(await engine.tables(w, LIMITS)).toEqual([
      { name: 't', rowCount: 2000 },
      { name: 's.odd name', rowCount: 0 }
    ])
  })
})
