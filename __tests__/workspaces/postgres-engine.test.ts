import { afterAll, beforeAll, expect, it } from '@jest/globals'
import { randomBytes } from 'node:crypto'
import pg from 'pg'
import { ApiError } from '../../shared/server/errors'
import type { RunLimits, RunOutcome, RunRequest, WorkspaceHandle } from '../../shared/server/workspaces/engine'
import { PostgresWorkspaceEngine, scramVerifier } from '../../shared/server/workspaces/postgres-engine'
import { encodeParam, toStatementResult } from '../../shared/server/workspaces/values'
import { startPostgres, type TestPostgres } from '../../shared/testing/postgres'
import { describeStartsProcess } from '../tiers'

const limits: RunLimits = { statementTimeoutMs: 2_000, maxRows: 100, maxResultBytes: 1_000_000, maxBytes: 1_000_000 }

const newHandle = (): WorkspaceHandle => ({ engineName: `w_${randomBytes(12).toString('hex')}`, engineSecret: randomBytes(24).toString('base64url') })

type Statement = string | [string, unknown[]]

const request = (statements: Statement[], options: Partial<Omit<RunRequest, 'statements'>> = {}): RunRequest => ({
  statements: statements.map((s) => (typeof s === 'string' ? { sql: s, params: [] } : { sql: s[0], params: s[1].map(encodeParam) })),
  transaction: false,
  readOnly: false,
  overQuota: false,
  limits,
  ...options
})

async function failure(promise: Promise<unknown>): Promise<ApiError> {
  try {
    await promise
  } catch (error) {
    if (error instanceof ApiError) return error
    throw error
  }
  throw new Error('expected the request to fail')
}

describeStartsProcess('PostgresWorkspaceEngine on a real PostgreSQL', () => {
  let postgres: TestPostgres
  let superuser: pg.Client
  let adminUrl: string
  let engine: PostgresWorkspaceEngine
  const warnings: string[] = []
  const a = newHandle()
  const b = newHandle()

  const run = (handle: WorkspaceHandle, statements: Statement[], options: Partial<Omit<RunRequest, 'statements'>> = {}): Promise<RunOutcome> =>
    engine.run(handle, request(statements, options))
  const values = async (handle: WorkspaceHandle, sql: string): Promise<unknown[][]> => toStatementResult((await run(handle, [sql])).results[0]!).rows

  beforeAll(async () => {
    postgres = await startPostgres()
    superuser = new pg.Client({ connectionString: postgres.url })
    await superuser.connect()
    // The engine runs as what production uses: not a superuser, only CREATEDB and CREATEROLE.
    await superuser.query('CREATE ROLE ws_admin LOGIN CREATEDB CREATEROLE')
    adminUrl = `postgres://ws_admin@127.0.0.1:${postgres.port}/postgres`
    engine = new PostgresWorkspaceEngine({ adminUrl, log: { warn: (obj, msg) => void warnings.push(`${msg} ${JSON.stringify(obj)}`) } })
    await engine.provision(a)
    await engine.provision(b)
  })

  afterAll(async () => {
    await engine?.close()
    await superuser?.end()
    await postgres?.stop()
  })

  it('provisions idempotently, also twice at once from two instances', async () => {
    await engine.provision(a)
    const c = newHandle()
    const other = new PostgresWorkspaceEngine({ adminUrl })
    try {
      await Promise.all([engine.provision(c), other.provision(c), engine.provision(c)])
    } finally {
      await other.close()
    }
    const { rows } = await superuser.query<{ datname: string; owner: string; public_connect: boolean }>(
      `SELECT datname, pg_get_userbyid(datdba) AS owner, has_database_privilege('public', oid, 'CONNECT') AS public_connect FROM pg_database WHERE datname = $1`,
      [c.engineName]
    )
    expect(rows).toEqual([{ datname: c.engineName, owner: c.engineName, public_connect: false }])
    const role = await superuser.query(`SELECT rolsuper, rolcreatedb, rolcreaterole, rolcanlogin FROM pg_roles WHERE rolname = $1`, [c.engineName])
    expect(role.rows).toEqual([{ rolsuper: false, rolcreatedb: false, rolcreaterole: false, rolcanlogin: true }])
    expect(await values(c, 'SELECT current_user, current_database()')).toEqual([[c.engineName, c.engineName]])
  })

  it('stores a SCRAM verifier, never the password, and PostgreSQL computes the same one', async () => {
    const { rows } = await superuser.query<{ rolpassword: string }>('SELECT rolpassword FROM pg_authid WHERE rolname = $1', [a.engineName])
    const stored = rows[0]!.rolpassword
    expect(stored).toMatch(/^SCRAM-SHA-256\$4096:/)
    expect(stored).not.toContain(a.engineSecret)
    // PostgreSQL's own verifier for a password, recomputed here with its salt.
    await superuser.query(`SET password_encryption = 'scram-sha-256'`)
    await superuser.query(`CREATE ROLE scram_probe PASSWORD 'pr0be-Secret_x'`)
    const probe = (await superuser.query<{ rolpassword: string }>(`SELECT rolpassword FROM pg_authid WHERE rolname = 'scram_probe'`)).rows[0]!.rolpassword
    const salt = Buffer.from(/^SCRAM-SHA-256\$4096:([^$]+)\$/.exec(probe)![1]!, 'base64')
    expect(scramVerifier('pr0be-Secret_x', salt)).toBe(probe)
  })

  it('creates, inserts with parameters and selects; values come back as text with their types', async () => {
    const created = await run(a, [
      'CREATE TABLE kinds (i int4, big int8, n numeric, b bool, j jsonb, raw bytea, at timestamptz, list int[], nothing text)',
      [
        'INSERT INTO kinds VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)',
        [42, '9007199254740993', '1.10', true, { x: [1, 'two'] }, '\\x00ff', '2024-01-02T03:04:05.5Z', [1, 2, 3], null]
      ]
    ])
    expect(created.results.map((r) => [r.command, r.rowCount])).toEqual([
      ['CREATE', null],
      ['INSERT', 1]
    ])
    expect(created.bytes).toBeGreaterThan(0)
    await run(a, ["SET TIME ZONE 'UTC'"])
    const selected = await run(a, ["SELECT i, big, n, b, j, raw, at AT TIME ZONE 'UTC' AS naive, at, list, nothing FROM kinds"])
    const result = toStatementResult(selected.results[0]!)
    expect(result.columns).toEqual(['i', 'big', 'n', 'b', 'j', 'raw', 'naive', 'at', 'list', 'nothing'])
    const [row] = result.rows
    expect(row!.slice(0, 6)).toEqual([42, '9007199254740993', '1.10', true, { x: [1, 'two'] }, 'AP8='])
    expect(row![6]).toBe('2024-01-02T03:04:05.5')
    // The session's time zone is the server's default (UTC in the test cluster): reset after each request.
    expect(row![7]).toMatch(/^2024-01-02T03:04:05\.5(Z|[+-]\d\d:\d\d)$/)
    expect(row!.slice(8)).toEqual([[1, 2, 3], null])
    expect(result.rowsRead).toBe(1)
    expect(selected.bytes).toBeUndefined()
    expect(await values(a, `SELECT '2024-01-02 03:04:05+00'::timestamptz AT TIME ZONE 'UTC' AS t, now() IS NOT NULL`)).toEqual([['2024-01-02T03:04:05', true]])
    await run(a, ["SET TIME ZONE 'UTC'"])
    expect(await values(a, `SELECT pg_catalog.current_setting('TimeZone')`)).not.toEqual([['Europe/Paris']])
  })

  it('answers timestamptz in ISO form with Z under UTC', async () => {
    const result = await run(a, [`SELECT pg_catalog.set_config('TimeZone', 'UTC', false)`, `SELECT '2024-01-02 03:04:05.25+00'::timestamptz`])
    expect(toStatementResult(result.results[1]!).rows).toEqual([['2024-01-02T03:04:05.25Z']])
  })

  it('refuses two statements in one query (42601)', async () => {
    const error = await failure(run(a, ['SELECT 1; SELECT 2']))
    expect([error.code, error.fields]).toEqual(['sql_error', { sqlstate: '42601', statement: 0 }])
    expect(await values(a, 'SELECT 1')).toEqual([[1]])
  })

  it('rolls a transaction back when its second statement fails; without one, the first stays', async () => {
    await run(a, ['CREATE TABLE batch (id int PRIMARY KEY)'])
    const error = await failure(run(a, ['INSERT INTO batch VALUES (1)', 'INSERT INTO batch VALUES (1)'], { transaction: true }))
    expect([error.code, error.fields]).toEqual(['sql_error', { sqlstate: '23505', statement: 1 }])
    expect(await values(a, 'SELECT count(*)::int FROM batch')).toEqual([[0]])
    await failure(run(a, ['INSERT INTO batch VALUES (1)', 'INSERT INTO batch VALUES (1)']))
    expect(await values(a, 'SELECT count(*)::int FROM batch')).toEqual([[1]])
  })

  it('ends a statement at its time limit, even after SET statement_timeout = 0 in the same batch', async () => {
    const short = { ...limits, statementTimeoutMs: 300 }
    const error = await failure(run(a, ['SELECT pg_sleep(10)'], { limits: short }))
    expect([error.code, error.fields]).toEqual(['statement_timeout', { statement: 0 }])
    const again = await failure(run(a, ['SET statement_timeout = 0', 'SELECT pg_sleep(10)'], { limits: short }))
    expect([again.code, again.fields]).toEqual(['statement_timeout', { statement: 1 }])
    const inTransaction = await failure(run(a, ['SET statement_timeout = 0', 'SELECT pg_sleep(10)'], { limits: short, transaction: true }))
    expect(inTransaction.code).toBe('statement_timeout')
    expect(await values(a, 'SELECT 1')).toEqual([[1]])
  })

  it('ends a statement that catches its own cancellation, from outside', async () => {
    const short = { ...limits, statementTimeoutMs: 300 }
    const evading = 'DO $$ BEGIN LOOP BEGIN PERFORM pg_sleep(10); EXCEPTION WHEN query_canceled THEN NULL; END; END LOOP; END $$'
    const error = await failure(run(a, [evading], { limits: short }))
    expect([error.code, error.fields]).toEqual(['statement_timeout', { statement: 0 }])
    expect(await values(a, 'SELECT 1')).toEqual([[1]])
    // The same from a row security policy, which runs when the server counts rows (tables()).
    const trap = newHandle()
    await engine.provision(trap)
    await run(trap, [
      'CREATE FUNCTION stall() RETURNS boolean LANGUAGE plpgsql AS $$ BEGIN LOOP BEGIN PERFORM pg_sleep(10); EXCEPTION WHEN query_canceled THEN NULL; END; END LOOP; END $$',
      'CREATE TABLE trapped (x int)',
      'INSERT INTO trapped VALUES (1)',
      'ALTER TABLE trapped ENABLE ROW LEVEL SECURITY',
      'ALTER TABLE trapped FORCE ROW LEVEL SECURITY',
      'CREATE POLICY everyone ON trapped USING (stall())'
    ])
    const counting = await failure(engine.tables(trap, short))
    expect(counting.code).toBe('statement_timeout')
    expect(await engine.size(trap, short)).toBeGreaterThan(0)
  })

  it('refuses a result over maxRows or maxResultBytes, and the session stays usable', async () => {
    const error = await failure(run(a, ['SELECT g FROM generate_series(1, 1000) g'], { limits: { ...limits, maxRows: 10 } }))
    expect([error.code, error.fields]).toEqual(['result_too_large', { statement: 0 }])
    expect(await values(a, 'SELECT count(*)::int FROM generate_series(1, 10)')).toEqual([[10]])
    const wide = await failure(run(a, ["SELECT repeat('x', 1000) FROM generate_series(1, 5000)"], { limits: { ...limits, maxRows: 10_000, maxResultBytes: 100_000 } }))
    expect([wide.code, wide.fields]).toEqual(['result_too_large', { statement: 0 }])
    expect(wide.message).toMatch(/100000 bytes/)
    const many = await run(a, ['SELECT g FROM generate_series(1, 1200) g'], { limits: { ...limits, maxRows: 1200 } })
    expect([many.results[0]!.rows.length, many.results[0]!.rowCount]).toEqual([1200, 1200])
    await run(a, ['CREATE TABLE returning_many (g int)'])
    const inserted = await run(a, ['INSERT INTO returning_many SELECT generate_series(1, 1200) RETURNING g'], { limits: { ...limits, maxRows: 1200 } })
    expect([inserted.results[0]!.command, inserted.results[0]!.rows.length, inserted.results[0]!.rowCount]).toEqual(['INSERT', 1200, 1200])
  })

  it('refuses a lone BEGIN, and the next request still autocommits', async () => {
    const error = await failure(run(a, ['BEGIN']))
    expect(error.code).toBe('sql_error')
    expect(error.message).toMatch(/transaction control/)
    // Each request in a transaction of its own (the pool hands the same connection back).
    const first = (await values(a, 'SELECT txid_current()::text'))[0]?.[0]
    const second = (await values(a, 'SELECT txid_current()::text'))[0]?.[0]
    expect(BigInt(second as string)).toBeGreaterThan(BigInt(first as string))
    await run(a, ['CREATE TABLE after_begin (x int)', 'INSERT INTO after_begin VALUES (1)'])
    // Seen from a new session after eviction: committed.
    await engine.evict(a)
    expect(await values(a, 'SELECT count(*)::int FROM after_begin')).toEqual([[1]])
  })

  it('does not keep SET ROLE pg_database_owner past the request', async () => {
    const set = await run(a, ['SET ROLE pg_database_owner', 'SELECT current_user'])
    expect(toStatementResult(set.results[1]!).rows).toEqual([['pg_database_owner']])
    for (let i = 0; i < 5; i++) expect(await values(a, 'SELECT current_user')).toEqual([[a.engineName]])
  })

  it('keeps workspaces apart: no cross-database reads, no role changes to others', async () => {
    await run(b, ['CREATE TABLE secret (v text)', "INSERT INTO secret VALUES ('b only')"])
    const cross = await failure(run(a, [`SELECT * FROM ${b.engineName}.public.secret`]))
    expect([cross.code, cross.fields.sqlstate]).toEqual(['sql_error', '0A000'])
    for (const role of [b.engineName, 'postgres', 'ws_admin']) {
      const error = await failure(run(a, [`SET ROLE ${role}`]))
      expect([role, error.code, error.fields.sqlstate]).toEqual([role, 'sql_error', '42501'])
      expect(error.message).not.toContain(b.engineSecret)
    }
    const authorization = await failure(run(a, [`SET SESSION AUTHORIZATION ${b.engineName}`]))
    expect(authorization.fields.sqlstate).toBe('42501')
    // Its own backends only: another workspace's are out of reach.
    const others = await values(a, `SELECT count(*)::int FROM pg_stat_activity WHERE datname <> current_database() AND query <> '<insufficient privilege>'`)
    expect(others).toEqual([[0]])
  })

  it('answers an error when the workspace ends its own backend, and the next request works', async () => {
    const error = await failure(run(a, ['SELECT pg_terminate_backend(pg_backend_pid())']))
    expect(error.status).toBeLessThan(600)
    expect(['workspace_unavailable', 'sql_error']).toContain(error.code)
    expect(error.message).not.toContain(a.engineSecret)
    expect(await values(a, 'SELECT 1')).toEqual([[1]])
  })

  it('refuses COPY FROM STDIN and COPY TO STDOUT without hanging', async () => {
    await run(a, ['CREATE TABLE copied (x int)', 'INSERT INTO copied SELECT generate_series(1, 50000)'])
    const into = await failure(run(a, ['COPY copied FROM STDIN']))
    expect([into.code, into.fields]).toEqual(['sql_error', { sqlstate: '0A000', statement: 0 }])
    const out = await failure(run(a, ['COPY copied TO STDOUT']))
    expect([out.code, out.fields]).toEqual(['sql_error', { sqlstate: '0A000', statement: 0 }])
    const small = await failure(run(a, ['COPY (SELECT 1) TO STDOUT']))
    expect(small.fields.sqlstate).toBe('0A000')
    expect(await values(a, 'SELECT count(*)::int FROM copied')).toEqual([[50000]])
  })

  it('refuses writes that grow an over-quota workspace; reads and deletes still work', async () => {
    await run(a, ['CREATE TABLE quota (v text)', "INSERT INTO quota SELECT repeat('x', 100) FROM generate_series(1, 100)"])
    const error = await failure(run(a, ["INSERT INTO quota SELECT repeat('y', 1000) FROM generate_series(1, 100)"], { overQuota: true }))
    expect([error.code, error.fields]).toEqual(['quota_exceeded', { statement: 0 }])
    expect(await values(a, "SELECT count(*)::int FROM quota WHERE v LIKE 'y%'")).toEqual([[0]])
    const read = await run(a, ['SELECT count(*)::int FROM quota'], { overQuota: true })
    expect(toStatementResult(read.results[0]!).rows).toEqual([[100]])
    const deleted = await run(a, ['DELETE FROM quota'], { overQuota: true })
    expect(toStatementResult(deleted.results[0]!).rowsWritten).toBe(100)
  })

  it('measures size and counts table rows as the workspace', async () => {
    const empty = newHandle()
    await engine.provision(empty)
    const before = await engine.size(empty, limits)
    expect(before).toBeLessThan(100_000)
    expect(await engine.tables(empty, limits)).toEqual([])
    await run(empty, [
      'CREATE TABLE filled (v text)',
      "INSERT INTO filled SELECT repeat('z', 200) FROM generate_series(1, 2000)",
      'CREATE SCHEMA other',
      'CREATE TABLE other."odd ""name""" (x int)',
      'INSERT INTO other."odd ""name""" VALUES (1), (2)'
    ])
    expect(await engine.size(empty, limits)).toBeGreaterThan(before + 200_000)
    expect(await engine.tables(empty, limits)).toEqual([
      { name: 'other.odd "name"', rowCount: 2 },
      { name: 'filled', rowCount: 2000 }
    ])
    expect(engine.stats().open).toBeGreaterThan(0)
  })

  it('answers 503 when the workspace database cannot be reached, naming neither it nor its password', async () => {
    const missing = newHandle()
    const error = await failure(run(missing, ['SELECT 1']))
    expect([error.status, error.code, error.headers['retry-after']]).toEqual([503, 'workspace_unavailable', '2'])
    expect(error.message).not.toContain(missing.engineName)
    expect(error.message).not.toContain(missing.engineSecret)
    expect(warnings.join('\n')).not.toContain(missing.engineSecret)
  })

  it('refuses an admin without CREATEROLE with a clear error', async () => {
    await superuser.query('CREATE ROLE weak_admin LOGIN CREATEDB NOCREATEROLE')
    const weak = new PostgresWorkspaceEngine({ adminUrl: `postgres://weak_admin@127.0.0.1:${postgres.port}/postgres` })
    try {
      await expect(weak.provision(newHandle())).rejects.toThrow(/WORKSPACES_DATABASE_URL.*CREATEDB and CREATEROLE.*lacks CREATEROLE/)
    } finally {
      await weak.close()
    }
  })

  it('runs read-only requests in a transaction the workspace cannot lift', async () => {
    await run(a, ['CREATE TABLE read_only (x int)'])
    const error = await failure(run(a, ['INSERT INTO read_only VALUES (1)'], { readOnly: true }))
    // The database refused the write (25006): a db:read token's write is the server's 403.
    expect([error.status, error.code]).toEqual([403, 'forbidden'])
    const lifted = await failure(run(a, ['SET TRANSACTION READ WRITE', 'INSERT INTO read_only VALUES (1)'], { readOnly: true, transaction: true }))
    expect(lifted.fields.sqlstate).toBe('25001')
    expect(await values(a, 'SELECT count(*)::int FROM read_only')).toEqual([[0]])
  })

  it('evicts: ends a request in flight with 503, and the workspace opens again afterwards', async () => {
    const slow = run(b, ['SELECT pg_sleep(5)'], { limits: { ...limits, statementTimeoutMs: 10_000 } })
    // Wait until the statement runs, seen from the workspace's own other session.
    for (let i = 0; i < 100; i++) {
      const [[running]] = (await values(b, "SELECT count(*)::int FROM pg_stat_activity WHERE query = 'SELECT pg_sleep(5)' AND state = 'active'")) as [[number]]
      if (running > 0) break
      await new Promise((resolve) => setTimeout(resolve, 20))
    }
    await engine.evict(b)
    const error = await failure(slow)
    expect([error.status, error.code]).toEqual([503, 'workspace_unavailable'])
    expect(await values(b, 'SELECT count(*)::int FROM secret')).toEqual([[1]])
  })

  it('stays within maxConnections across many workspaces', async () => {
    const small = new PostgresWorkspaceEngine({ adminUrl, maxConnections: 3 })
    try {
      const handles = Array.from({ length: 6 }, newHandle)
      for (const handle of handles) await small.provision(handle)
      for (const handle of handles) {
        await small.run(handle, request(['SELECT 1']))
        expect(small.stats().open).toBeLessThanOrEqual(3)
      }
      const results = await Promise.all(handles.map((handle) => small.run(handle, request(['SELECT pg_sleep(0.05)']))))
      expect(results).toHaveLength(6)
      expect(small.stats().open).toBeLessThanOrEqual(3)
    } finally {
      await small.close()
    }
    expect(small.stats().open).toBe(0)
  })

  // Last: it turns password authentication on for the whole cluster.
  it('logs in with its password, and sets it back when the workspace changed it', async () => {
    const hba = (await superuser.query<{ hba_file: string }>('SHOW hba_file')).rows[0]!.hba_file
    const lines = ['host all postgres 127.0.0.1/32 trust', 'host all ws_admin 127.0.0.1/32 trust', 'host all all 127.0.0.1/32 scram-sha-256']
    await superuser.query(`COPY (SELECT unnest($1::text[])) TO '${hba.replace(/'/g, "''")}'`.replace('$1', `ARRAY[${lines.map((l) => `'${l}'`).join(',')}]`))
    await superuser.query('SELECT pg_reload_conf()')
    await engine.evict(a)
    expect(await values(a, 'SELECT current_user')).toEqual([[a.engineName]])
    const wrong = { ...a, engineSecret: 'not-the-password' }
    const stranger = new PostgresWorkspaceEngine({ adminUrl: `postgres://nobody@127.0.0.1:${postgres.port}/postgres` })
    const refused = await failure(stranger.run(wrong, request(['SELECT 1']))).finally(() => stranger.close())
    expect([refused.status, refused.message]).toEqual([503, "the workspace's database is unavailable right now (28P01); retry shortly"])
    await run(a, [`ALTER ROLE ${a.engineName} PASSWORD 'chosen-by-the-workspace'`])
    await engine.evict(a)
    expect(await values(a, 'SELECT current_user')).toEqual([[a.engineName]])
    expect(warnings.join('\n')).not.toContain(a.engineSecret)
  })
})
