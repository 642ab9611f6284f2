/**
 * The workspace SQL API through HTTP, in both storage modes: every endpoint, value type and
 * error code, batches, Idempotency-Key, limits, quota, usage and who may call what. The
 * limits are set low on these servers so that passing each one is cheap.
 */
import { beforeAll, describe, expect, it } from '@jest/globals'
import { call, oidcToken } from '../server/helpers'
import { MODES, federated, useWorkspaceServer, workspaceIdentity, type WorkspaceClient } from './harness'

const LIMITS = {
  WORKSPACE_STATEMENT_TIMEOUT_MS: '1500',
  WORKSPACE_MAX_ROWS: '100',
  WORKSPACE_MAX_RESULT_BYTES: '65536',
  WORKSPACE_MAX_BYTES: '1048576'
}

describe.each(MODES)('workspace SQL API (%s)', (mode) => {
  const { server } = useWorkspaceServer(mode, LIMITS)
  let ws: WorkspaceClient

  beforeAll(async () => {
    ws = await federated(server(), workspaceIdentity(`api-${mode}`))
  }, 120_000)

  describe('query', () => {
    it('creates a table, inserts with $n parameters and reads the rows back', async () => {
      const created = await ws.query('CREATE TABLE notes (id serial PRIMARY KEY, body text NOT NULL)')
      expect(created.status).toBe(200)
      expect(created.body).toEqual({ success: true, data: { columns: [], rows: [], rowsRead: 0, rowsWritten: 0 } })

      const inserted = await ws.query('INSERT INTO notes (body) VALUES ($1), ($2) RETURNING id', ['first', 'second'])
      expect(inserted.body).toEqual({ success: true, data: { columns: ['id'], rows: [[1], [2]], rowsRead: 2, rowsWritten: 2 } })

      const selected = await ws.query('SELECT id, body FROM notes WHERE id > $1 ORDER BY id', [0])
      expect(selected.body.data).toEqual({
        columns: ['id', 'body'],
        rows: [
          [1, 'first'],
          [2, 'second']
        ],
        rowsRead: 2,
        rowsWritten: 0
      })

      const updated = await ws.query('UPDATE notes SET body = upper(body)')
      expect(updated.body.data).toMatchObject({ rowsRead: 0, rowsWritten: 2 })
    })

    it('maps every kind of value to JSON and back', async () => {
      const res = await ws.query(
        `SELECT 1::int2 AS i2, 2::int4 AS i4, 3.5::float8 AS f8, 'NaN'::float8 AS nan, '-Infinity'::float4 AS minf,
                9007199254740993::int8 AS i8, 1.10::numeric AS num, true AS yes, false AS no,
                '{"a": [1, 2], "b": null}'::jsonb AS doc, '"text"'::json AS js, '\\xdeadbeef'::bytea AS bin,
                '2030-01-02 03:04:05.123456+00'::timestamptz AS tstz, '2030-01-02 03:04:05'::timestamp AS ts,
                ARRAY[1, NULL, 3]::int[] AS ints, ARRAY['a b', 'c"d']::text[] AS texts, ARRAY[10000000000]::int8[] AS bigs,
                NULL::text AS nothing, '2030-01-02'::date AS day, 'b0a6d5e0-1f7e-4b8a-9d3c-2e1f0a9b8c7d'::uuid AS id, '1 day'::interval AS span`
      )
      expect(res.status).toBe(200)
      const [row] = res.body.data.rows as unknown[][]
      expect(Object.fromEntries((res.body.data.columns as string[]).map((c, i) => [c, row![i]]))).toEqual({
        i2: 1,
        i4: 2,
        f8: 3.5,
        nan: 'NaN',
        minf: '-Infinity',
        i8: '9007199254740993',
        num: '1.10',
        yes: true,
        no: false,
        doc: { a: [1, 2], b: null },
        js: 'text',
        bin: Buffer.from('deadbeef', 'hex').toString('base64'),
        tstz: '2030-01-02T03:04:05.123456Z',
        ts: '2030-01-02T03:04:05',
        ints: [1, null, 3],
        texts: ['a b', 'c"d'],
        bigs: ['10000000000'],
        nothing: null,
        day: '2030-01-02',
        id: 'b0a6d5e0-1f7e-4b8a-9d3c-2e1f0a9b8c7d',
        span: '1 day'
      })
    })

    it('takes JSON parameters of every kind', async () => {
      const res = await ws.query('SELECT $1::int + 1, $2::text, $3::boolean, $4::text IS NULL, $5::int[], $6::jsonb -> $7::text, $8::numeric * 2, $9::text[]', [
        41,
        "it's",
        true,
        null,
        [1, 2, 3],
        { k: { nested: [true] } },
        'k',
        '12345678901234567890',
        ['x,y', 'q"uote', null]
      ])
      expect(res.status).toBe(200)
      expect(res.body.data.rows[0]).toEqual([42, "it's", true, true, [1, 2, 3], { nested: [true] }, '24691357802469135780', ['x,y', 'q"uote', null]])
    })

    it('refuses a second statement in one query (400 sql_error 42601)', async () => {
      const res = await ws.query('SELECT 1; SELECT 2')
      expect(res.status).toBe(400)
      expect(res.body).toMatchObject({ success: false, code: 'sql_error', sqlstate: '42601', statement: 0 })
    })

    it('answers a SQL error with the database message and SQLSTATE, never a 5xx', async () => {
      const missing = await ws.query('SELECT * FROM no_such_table')
      expect(missing.status).toBe(400)
      expect(missing.body).toMatchObject({ success: false, code: 'sql_error', sqlstate: '42P01', statement: 0 })
      expect(missing.body.error).toContain('no_such_table')
      const division = await ws.query('SELECT 1 / 0')
      expect(division.body).toMatchObject({ code: 'sql_error', sqlstate: '22012' })
      const types = await ws.query('SELECT $1::int', ['not a number'])
      expect(types.body).toMatchObject({ code: 'sql_error', sqlstate: '22P02' })
    })

    it('refuses transaction control: the server runs the transactions', async () => {
      for (const sql of ['BEGIN', 'COMMIT', 'ROLLBACK', 'START TRANSACTION']) {
        const res = await ws.query(sql)
        expect(res.status).toBe(400)
        expect(res.body.code).toBe('sql_error')
      }
      // No transaction was left open: a write now is committed and seen by the next request.
      await ws.query('CREATE TABLE after_begin (x int)')
      await ws.query('INSERT INTO after_begin VALUES (1)')
      expect((await ws.query('SELECT count(*)::int FROM after_begin')).body.data.rows).toEqual([[1]])
    })

    it('validates the body (400 invalid_request)', async () => {
      for (const body of [{}, { sql: '' }, { sql: 'SELECT 1', extra: true }, { sql: 'SELECT 1', params: 'x' }]) {
        const res = await call(ws.url, 'POST', '/query', { token: ws.token, body })
        expect(res.status).toBe(400)
        expect(res.body).toMatchObject({ success: false, code: 'invalid_request' })
      }
    })

    it('accepts a body past 64 KiB up to the workspace limit', async () => {
      const text = 'y'.repeat(200_000)
      const res = await ws.query('SELECT length($1)', [text])
      expect(res.status).toBe(200)
      expect(res.body.data.rows).toEqual([[200_000]])
      const tooLarge = await ws.query('SELECT length($1)', ['z'.repeat(1_100_000)])
      expect(tooLarge.status).toBe(413)
    })
  })

  describe('batch', () => {
    it('runs statements in order and answers one result each', async () => {
      const res = await ws.batch([
        { sql: 'CREATE TABLE items (n int)' },
        { sql: 'INSERT INTO items VALUES ($1), ($2)', params: [1, 2] },
        { sql: 'SELECT sum(n)::int FROM items' }
      ])
      expect(res.status).toBe(200)
      expect(res.body.data).toHaveLength(3)
      expect(res.body.data[1]).toMatchObject({ rowsWritten: 2 })
      expect(res.body.data[2].rows).toEqual([[3]])
    })

    it('without transaction: stops at the first failure, keeps the statements before it', async () => {
      const res = await ws.batch([{ sql: 'INSERT INTO items VALUES (10)' }, { sql: 'INSERT INTO nowhere VALUES (1)' }, { sql: 'INSERT INTO items VALUES (20)' }])
      expect(res.status).toBe(400)
      expect(res.body).toMatchObject({ code: 'sql_error', sqlstate: '42P01', statement: 1 })
      const rows = await ws.query('SELECT n FROM items WHERE n >= 10 ORDER BY n')
      expect(rows.body.data.rows).toEqual([[10]])
    })

    it('with transaction: the first failure rolls every statement back', async () => {
      const res = await ws.batch([{ sql: 'INSERT INTO items VALUES (100)' }, { sql: 'INSERT INTO items VALUES (1 / 0)' }], true)
      expect(res.status).toBe(400)
      expect(res.body).toMatchObject({ code: 'sql_error', sqlstate: '22012', statement: 1 })
      expect((await ws.query('SELECT count(*)::int FROM items WHERE n = 100')).body.data.rows).toEqual([[0]])
      const ok = await ws.batch([{ sql: 'INSERT INTO items VALUES (100)' }, { sql: 'SELECT count(*)::int FROM items WHERE n = 100' }], true)
      expect(ok.body.data[1].rows).toEqual([[1]])
    })

    it('takes 1 to 100 statements', async () => {
      const hundred = await ws.batch(Array.from({ length: 100 }, (_, i) => ({ sql: 'SELECT $1::int', params: [i] })))
      expect(hundred.status).toBe(200)
      expect(hundred.body.data[99].rows).toEqual([[99]])
      const over = await ws.batch(Array.from({ length: 101 }, () => ({ sql: 'SELECT 1' })))
      expect(over.status).toBe(400)
      expect((await ws.batch([])).status).toBe(400)
    })
  })

  describe('limits', () => {
    it('ends a statement past its time (400 statement_timeout), whatever the workspace set', async () => {
      const slept = await ws.query('SELECT pg_sleep(30)')
      expect(slept.status).toBe(400)
      expect(slept.body).toMatchObject({ code: 'statement_timeout', statement: 0 })
      const evaded = await ws.batch([{ sql: 'SET statement_timeout = 0' }, { sql: 'SELECT pg_sleep(30)' }])
      expect(evaded.body).toMatchObject({ code: 'statement_timeout', statement: 1 })
      const cpu = await ws.query('SELECT count(*) FROM generate_series(1, 10000000000)')
      expect(cpu.body).toMatchObject({ code: 'statement_timeout' })
      // The workspace works right after, its data intact.
      expect((await ws.query('SELECT count(*)::int FROM notes')).body.data.rows).toEqual([[2]])
    })

    it('refuses more rows or bytes than an answer may hold (400 result_too_large)', async () => {
      expect((await ws.query('SELECT generate_series(1, 100)')).status).toBe(200)
      const rows = await ws.query('SELECT generate_series(1, 101)')
      expect(rows.status).toBe(400)
      expect(rows.body).toMatchObject({ code: 'result_too_large', statement: 0 })
      const bytes = await ws.query("SELECT repeat('x', 70000)")
      expect(bytes.body).toMatchObject({ code: 'result_too_large' })
    })

    it('a write refused for its answer leaves nothing behind, in a batch without a transaction too', async () => {
      const before = (await ws.query('SELECT count(*)::int FROM notes')).body.data.rows
      const insert = "INSERT INTO notes (body) SELECT 'many ' || n FROM generate_series(1, 150) n RETURNING id"
      const alone = await ws.query(insert)
      expect(alone.status).toBe(400)
      expect(alone.body).toMatchObject({ code: 'result_too_large', statement: 0 })
      const batch = await ws.batch([{ sql: "INSERT INTO notes (body) VALUES ('kept')" }, { sql: insert }])
      expect(batch.body).toMatchObject({ code: 'result_too_large', statement: 1 })
      // The batch without a transaction keeps its first statement; neither oversized insert stayed.
      const after = await ws.query("SELECT count(*)::int, count(*) FILTER (WHERE body = 'kept')::int FROM notes")
      expect(after.body.data.rows).toEqual([[before[0][0] + 1, 1]])
      await ws.query("DELETE FROM notes WHERE body = 'kept'")
    })
  })

  describe('quota', () => {
    let full: WorkspaceClient
    beforeAll(async () => {
      full = await federated(server(), workspaceIdentity(`quota-${mode}`))
    })

    it('refuses writes past the quota (403 quota_exceeded), still allows reads, DELETE and TRUNCATE', async () => {
      expect((await full.query('CREATE TABLE big (body text)')).status).toBe(200)
      const filled = await full.query("INSERT INTO big SELECT md5(i::text) || repeat('q', 1000) FROM generate_series(1, 2000) i")
      expect(filled.status).toBe(200)
      const info = await full.info()
      expect(info.body.data.usage.bytes).toBeGreaterThan(1_048_576)

      const refused = await full.query("INSERT INTO big VALUES ('one more')")
      expect(refused.status).toBe(403)
      expect(refused.body).toMatchObject({ success: false, code: 'quota_exceeded' })
      expect((await full.query("SELECT count(*)::int FROM big WHERE body = 'one more'")).body.data.rows).toEqual([[0]])
      expect((await full.query('SELECT count(*)::int FROM big')).body.data.rows).toEqual([[2000]])
      expect((await full.query('DELETE FROM big WHERE ctid IN (SELECT ctid FROM big LIMIT 10)')).status).toBe(200)
      expect((await full.query('TRUNCATE big')).status).toBe(200)
      expect((await full.query("INSERT INTO big VALUES ('room again')")).status).toBe(200)
    })
  })

  describe('usage, tables, info', () => {
    it('GET <url> shows the workspace with its usage and limits', async () => {
      const res = await ws.info()
      expect(res.status).toBe(200)
      expect(res.body.data).toMatchObject({ namespace: ws.namespace, database: 'main', identity: ws.repository })
      expect(res.body.data.limits).toEqual({ statementTimeoutMs: 1500, maxRows: 100, maxResultBytes: 65536, maxBytes: 1048576 })
      const { usage } = res.body.data
      expect(usage.statements).toBeGreaterThan(10)
      expect(usage.rowsRead).toBeGreaterThan(5)
      expect(usage.rowsWritten).toBeGreaterThan(5)
      expect(usage.bytes).toBeGreaterThan(0)
    })

    it('GET <url>/tables lists the tables with exact row counts', async () => {
      await ws.query('CREATE SCHEMA other')
      await ws.query('CREATE TABLE other.things (x int)')
      await ws.query('INSERT INTO other.things SELECT generate_series(1, 7)')
      const res = await ws.tables()
      expect(res.status).toBe(200)
      const tables = Object.fromEntries((res.body.data as { name: string; rowCount: number }[]).map((t) => [t.name, t.rowCount]))
      expect(tables).toMatchObject({ notes: 2, 'other.things': 7 })
    })
  })

  describe('Idempotency-Key', () => {
    it('replays the stored answer for the same key and body, without running the statements again', async () => {
      await ws.query('CREATE TABLE ledger (entry text)')
      const headers = { 'idempotency-key': `entry-${mode}-1` }
      const first = await ws.query('INSERT INTO ledger VALUES ($1) RETURNING entry', ['paid'], headers)
      const again = await ws.query('INSERT INTO ledger VALUES ($1) RETURNING entry', ['paid'], headers)
      expect(first.status).toBe(200)
      expect(again.status).toBe(200)
      expect(again.body).toEqual(first.body)
      expect(again.headers.get('idempotency-replayed')).toBe('true')
      expect(first.headers.get('idempotency-replayed')).toBeNull()
      expect((await ws.query('SELECT count(*)::int FROM ledger')).body.data.rows).toEqual([[1]])
      const other = await ws.query('INSERT INTO ledger VALUES ($1)', ['refund'], headers)
      expect(other.status).toBe(422)
      expect(other.body).toMatchObject({ success: false, code: 'idempotency_key_reused' })
    })

    it('works on batch, and a failed request is not stored', async () => {
      const headers = { 'idempotency-key': `batch-${mode}-1` }
      const failed = await ws.batch([{ sql: 'INSERT INTO nowhere VALUES (1)' }], false, headers)
      expect(failed.status).toBe(400)
      await ws.query('CREATE TABLE nowhere (x int)')
      const retried = await ws.batch([{ sql: 'INSERT INTO nowhere VALUES (1)' }], false, headers)
      expect(retried.status).toBe(200)
    })
  })

  describe('db:read tokens', () => {
    let writer: WorkspaceClient
    let reader: WorkspaceClient
    beforeAll(async () => {
      const identity = workspaceIdentity(`scopes-${mode}`)
      writer = await federated(server(), identity)
      await writer.batch([{ sql: 'CREATE TABLE kept (n int)' }, { sql: 'INSERT INTO kept VALUES (1)' }, { sql: 'CREATE SEQUENCE counter' }])
      reader = await federated(server(), identity, 'db:read')
    })

    it('federate grants both scopes by default, only db:read when asked, and refuses an unknown scope', async () => {
      const both = await call(server().url, 'POST', '/v1/identity/federate', { token: await oidcToken(server(), 'persql', workspaceIdentity(`default-${mode}`)) })
      expect(both.body.data.scope).toBe('db:read db:write')
      const token = await oidcToken(server(), 'persql', workspaceIdentity(`bad-scope-${mode}`))
      const unknown = await call(server().url, 'POST', '/v1/identity/federate', { token, body: { scope: 'db:admin' } })
      expect(unknown.status).toBe(400)
      expect(unknown.body).toMatchObject({ success: false, code: 'invalid_scope' })
      expect(unknown.body.error).toContain('db:read')
    })

    it('reads, and every way to write is refused', async () => {
      expect((await reader.query('SELECT n FROM kept')).body.data.rows).toEqual([[1]])
      expect((await reader.tables()).status).toBe(200)
      for (const sql of [
        'INSERT INTO kept VALUES (2)',
        'CREATE TABLE more (x int)',
        'DELETE FROM kept',
        "SELECT nextval('counter')",
        'DO $$ BEGIN INSERT INTO kept VALUES (3); END $$'
      ]) {
        const res = await reader.query(sql)
        expect({ sql, status: res.status, code: res.body.code }).toEqual({ sql, status: 403, code: 'forbidden' })
      }
      // Lifting read-only: SET TRANSACTION READ WRITE comes too late, COMMIT is refused, session defaults do not apply.
      const lifted = await reader.batch([{ sql: 'SET TRANSACTION READ WRITE' }, { sql: 'INSERT INTO kept VALUES (4)' }], true)
      expect(lifted.status).not.toBe(200)
      const committed = await reader.batch([{ sql: 'COMMIT' }, { sql: 'INSERT INTO kept VALUES (5)' }])
      expect(committed.status).toBe(400)
      const defaults = await reader.batch([{ sql: 'SET default_transaction_read_only = off' }, { sql: 'INSERT INTO kept VALUES (6)' }])
      expect(defaults.status).toBe(403)
      expect((await writer.query('SELECT n FROM kept ORDER BY n')).body.data.rows).toEqual([[1]])
    })
  })

  describe('who may call', () => {
    it('needs the workspace token of this workspace and database', async () => {
      expect((await call(ws.url, 'POST', '/query', { body: { sql: 'SELECT 1' } })).status).toBe(401)
      expect((await call(ws.url, 'POST', '/query', { token: 'fws_not-a-real-token', body: { sql: 'SELECT 1' } })).status).toBe(401)
      const other = await federated(server(), workspaceIdentity(`other-${mode}`))
      const crossed = await call(ws.url, 'POST', '/query', { token: other.token, body: { sql: 'SELECT 1' } })
      expect(crossed.status).toBe(403)
      expect(crossed.body).toMatchObject({ success: false, code: 'forbidden' })
      expect(crossed.text).not.toContain(other.namespace)
      const wrongDatabase = await call(ws.url.replace(/\/main$/, '/other'), 'GET', '/tables', { token: ws.token })
      expect(wrongDatabase.status).toBe(404)
    })

    it('refuses an expired workspace token (401)', async () => {
      server().clock.offsetMs = 2 * 3600_000
      try {
        const res = await ws.query('SELECT 1')
        expect(res.status).toBe(401)
        expect(res.body).toMatchObject({ success: false, code: 'invalid_token' })
      } finally {
        server().clock.offsetMs = 0
      }
    })
  })
})
