/**
 * One request's statements on one session of the workspace, the same for both engines:
 * transactions, read-only statements, the quota check, transaction-control refusal and the
 * result limits. The engines provide the session (a connection that logged in as the
 * workspace's role, or the workspace's own embedded instance) and the time limit.
 */
import type { RunOutcome, RunRequest } from './engine'
import { quotaExceeded, readOnlyRefused, requestTimeout, resultTooLarge, roleChangeRefused, sqlError, transactionControlRefused } from './errors'
import { rawBytes, type RawResult } from './values'

/** The database refused a statement (message and SQLSTATE as the database gave them). */
export class SessionSqlError extends Error {
  constructor(
    message: string,
    readonly sqlstate: string | undefined
  ) {
    super(message)
    this.name = this.constructor.name
  }
}

export interface SqlSession {
  /**
   * One statement on the extended protocol (a second statement in `sql` is a 42601 error),
   * reading at most `maxRows + 1` rows. Rejects with SessionSqlError when the database refuses it.
   */
  statement(sql: string, params: (string | null)[], maxRows: number, index: number): Promise<RawResult>
  /** The server's own SQL, run as the workspace (BEGIN, COMMIT, SET LOCAL ...). */
  control(sql: string): Promise<void>
  /** One value the server's own SQL reads (always pg_catalog-qualified: the workspace owns its search_path). */
  scalar(sql: string): Promise<string | null>
  /**
   * True when the session no longer runs as the workspace's role (embedded mode: the engine
   * runs as a superuser underneath and can only detect a change, so it rolls it back). PostgreSQL
   * refuses role changes by itself: undefined there.
   */
  roleChanged?(): Promise<boolean>
}

/**
 * The workspace's own data in bytes: tables, materialized views, their indexes and TOAST,
 * and large objects; not the catalogs of the empty database. Server SQL inside a workspace:
 * every name pg_catalog-qualified, so no function the workspace defines can stand in.
 */
export const SIZE_SQL = `SELECT (COALESCE((SELECT pg_catalog.sum(pg_catalog.pg_total_relation_size(c.oid))
  FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) c.relnamespace
  WHERE c.relkind OPERATOR(pg_catalog.=) ANY (ARRAY['r','m']::pg_catalog.char[]) AND c.relpersistence OPERATOR(pg_catalog.<>) 't'
    AND n.nspname OPERATOR(pg_catalog.<>) ALL (ARRAY['pg_catalog','information_schema']::pg_catalog.name[])
    AND n.nspname OPERATOR(pg_catalog.!~~) 'pg\\_%'), 0)
  OPERATOR(pg_catalog.+) pg_catalog.pg_relation_size('pg_catalog.pg_largeobject'::pg_catalog.regclass))::pg_catalog.int8::pg_catalog.text`

/** User tables (schema-qualified unless in public), for GET <url>/tables. */
export const TABLES_SQL = `SELECT n.nspname::pg_catalog.text AS schema, c.relname::pg_catalog.text AS name
  FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) c.relnamespace
  WHERE c.relkind OPERATOR(pg_catalog.=) ANY (ARRAY['r','p']::pg_catalog.char[]) AND c.relpersistence OPERATOR(pg_catalog.<>) 't'
    AND n.nspname OPERATOR(pg_catalog.<>) ALL (ARRAY['pg_catalog','information_schema']::pg_catalog.name[])
    AND n.nspname OPERATOR(pg_catalog.!~~) 'pg\\_%'
  ORDER BY 1, 2 LIMIT 1001`

export const quoteIdent = (name: string): string => `"${name.replace(/"/g, '""')}"`

/** Command tags of transaction control: the request's transaction is the server's to run. */
const TRANSACTION_CONTROL = new Set(['BEGIN', 'START', 'COMMIT', 'END', 'ROLLBACK', 'ABORT', 'SAVEPOINT', 'RELEASE', 'PREPARE'])
/** SQLSTATE of a write in a read-only transaction. */
const READ_ONLY_TRANSACTION = '25006'

/** Past the quota these still run: they are how a workspace makes room. */
const FREEING_COMMANDS = new Set(['DELETE', 'TRUNCATE', 'DROP'])
/**
 * Non-null once the transaction wrote anything (a write is what assigns a transaction id):
 * past the quota, any other statement that wrote is rolled back, whatever it was (an INSERT,
 * DDL, a function that inserts, a large object).
 */
const WROTE_SQL = 'SELECT pg_catalog.pg_current_xact_id_if_assigned()::pg_catalog.text'
/** Commands that never change stored data: no size measurement after them. */
const READING_COMMANDS = new Set(['SELECT', 'SHOW', 'EXPLAIN', 'VALUES', 'FETCH', 'SET', 'RESET', 'DISCARD'])

export interface SessionOptions {
  /** Called before each statement (PostgreSQL: sets statement_timeout; embedded: arms the watchdog). */
  beforeStatement(index: number): Promise<void>
}

/** Runs a request's statements; throws the ApiErrors of ./errors.ts. */
export async function runOnSession(session: SqlSession, request: RunRequest, options: SessionOptions): Promise<RunOutcome> {
  const { limits } = request
  // Outside a request's transaction each statement still runs in one of its own: a statement
  // refused after it ran (too many rows, a role change, past the quota) must leave nothing behind.
  const wrapEach = !request.transaction
  const begin = async (): Promise<void> => {
    await session.control(request.readOnly ? 'BEGIN READ ONLY' : 'BEGIN')
    // Any statement after BEGIN READ ONLY makes SET TRANSACTION READ WRITE fail: the workspace cannot lift it.
    if (request.readOnly) await session.control('SELECT 1')
  }
  let open = false
  const rollback = async (): Promise<void> => {
    if (!open) return
    open = false
    await session.control('ROLLBACK')
  }

  const deadline = limits.requestTimeoutMs === undefined ? Infinity : Date.now() + limits.requestTimeoutMs
  const results: RawResult[] = []
  let bytes = 0
  let wrote = false
  try {
    if (request.transaction) {
      await begin()
      open = true
    }
    for (const [index, statement] of request.statements.entries()) {
      if (Date.now() > deadline) throw requestTimeout(limits.requestTimeoutMs ?? 0, index)
      await options.beforeStatement(index)
      if (wrapEach) {
        await begin()
        open = true
      }
      let raw: RawResult
      try {
        raw = await session.statement(statement.sql, statement.params, limits.maxRows, index)
      } catch (error) {
        if (error instanceof SessionSqlError && request.readOnly && error.sqlstate === READ_ONLY_TRANSACTION) throw readOnlyRefused(index)
        if (error instanceof SessionSqlError) throw sqlError(error.message, error.sqlstate, index)
        throw error
      }
      if (TRANSACTION_CONTROL.has(raw.command)) throw transactionControlRefused(index)
      if (session.roleChanged && (await session.roleChanged())) throw roleChangeRefused(index)
      if (raw.rows.length > limits.maxRows) throw resultTooLarge(`statement ${index} returned more than ${limits.maxRows} rows`, index)
      bytes += rawBytes(raw.rows)
      if (bytes > limits.maxResultBytes) throw resultTooLarge(`the answer is larger than ${limits.maxResultBytes} bytes`, index)
      if (request.overQuota && !FREEING_COMMANDS.has(raw.command) && (await session.scalar(WROTE_SQL)) !== null) throw quotaExceeded(limits.maxBytes, index)
      if (!READING_COMMANDS.has(raw.command)) wrote = true
      if (wrapEach) {
        open = false
        await session.control('COMMIT')
      }
      results.push(raw)
    }
    if (request.transaction) {
      open = false
      await session.control('COMMIT')
    }
  } catch (error) {
    // The statement's own failure is the answer; a failed rollback only means the session is
    // unusable, which the engine finds out when it resets it.
    await rollback().catch(() => undefined)
    throw error
  }
  return wrote ? { results, bytes: Number(await session.scalar(SIZE_SQL)) } : { results }
}
