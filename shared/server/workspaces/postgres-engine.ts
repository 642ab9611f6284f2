/**
 * PostgreSQL mode: one database and one login role per workspace, both named by the workspace's
 * opaque engineName. Requests log in as that role (never as the admin), so the database's own
 * privilege checks keep workspaces apart: another workspace's database is out of reach
 * (cross-database references do not exist), role changes to other roles fail, and the role owns
 * nothing outside its database.
 *
 * The admin URL (WORKSPACES_DATABASE_URL) needs CREATEDB and CREATEROLE, or a superuser. What
 * this engine does not do: touch the server's own database. New roles can still connect to
 * every database that grants CONNECT to PUBLIC (the server's own included) if they knew their
 * password, which only the server does; operators who want the database to enforce it too
 * revoke CONNECT from PUBLIC on the server's database, or restrict workspace roles in pg_hba.conf
 * (`sameuser`).
 */
import { createHash, createHmac, pbkdf2Sync, randomBytes } from 'node:crypto'
import pg from 'pg'
import Cursor from 'pg-cursor'
import type { ApiError } from '../errors'
import type { RunLimits, RunOutcome, RunRequest, WorkspaceEngine, WorkspaceHandle } from './engine'
import { requestTimeout, sqlError, statementTimeout, workspaceUnavailable } from './errors'
import { quoteIdent, runOnSession, SessionSqlError, SIZE_SQL, TABLES_SQL, type SqlSession } from './session'
import { parseCommandTag, rawBytes, type RawResult } from './values'

export interface PostgresWorkspaceEngineOptions {
  /** WORKSPACES_DATABASE_URL: a role with CREATEDB and CREATEROLE; workspaces live on its cluster. */
  adminUrl: string
  log?: { warn(obj: object, msg: string): void }
  /** Open connections to workspace databases, all workspaces together. */
  maxConnections?: number
  /** An idle connection (and then its workspace's pool) is closed after this long. */
  poolIdleMs?: number
}

/** Connections one workspace may hold at once; more requests queue in its pool. */
const PER_WORKSPACE_CONNECTIONS = 4
/** How long a request waits for a connection before the answer is 503 + Retry-After. */
const ACQUIRE_TIMEOUT_MS = 5_000
/** After the statement's own limit, how long the watchdog waits before it ends the backend from outside. */
const WATCHDOG_GRACE_MS = 1_000
/** After the watchdog signalled, how long before the socket itself is destroyed. */
const SOCKET_GRACE_MS = 2_000
/** Rows read per round trip while a statement's answer is read. */
const READ_BATCH_ROWS = 500
/** First key of the two-key advisory lock taken while provisioning (apart from the store's one-key locks). */
const PROVISION_LOCK = 0x77730001
/** Temporary files one session may write (sorts, hashes): only applied when the admin may set it. */
const TEMP_FILE_LIMIT = '1GB'

/** Every value stays PostgreSQL text: values.ts decodes it the same way for both engines. */
const RAW_TYPES = { getTypeParser: () => (value: string) => value } as unknown as pg.CustomTypesConfig

const COPY_REFUSED = 'COPY FROM STDIN and COPY TO STDOUT are not supported: insert rows with INSERT, read them with SELECT'

/** A string literal that means the same under either standard_conforming_strings. */
function quoteLiteral(value: string): string {
  if (value.includes('\0')) throw new Error('a PostgreSQL literal cannot hold a NUL character')
  return `E'${value.replace(/\\/g, '\\\\').replace(/'/g, "''")}'`
}

/**
 * The SCRAM-SHA-256 verifier PostgreSQL would store for `password`: sent instead of the password,
 * so the password never appears in the server's statement or error logs. PostgreSQL applies
 * SASLprep to passwords first, which leaves printable ASCII unchanged; other passwords go as literals.
 */
export function scramVerifier(password: string, salt: Buffer = randomBytes(16), iterations = 4096): string {
  const salted = pbkdf2Sync(password, salt, iterations, 32, 'sha256')
  const clientKey = createHmac('sha256', salted).update('Client Key').digest()
  const storedKey = createHash('sha256').update(clientKey).digest()
  const serverKey = createHmac('sha256', salted).update('Server Key').digest()
  return `SCRAM-SHA-256$${iterations}:${salt.toString('base64')}$${storedKey.toString('base64')}:${serverKey.toString('base64')}`
}

function passwordSql(password: string): string {
  return quoteLiteral(/^[\x20-\x7e]+$/.test(password) ? scramVerifier(password) : password)
}

function errorCode(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code
  return typeof code === 'string' ? code : undefined
}

function tolerate(error: unknown, codes: string[]): void {
  if (!codes.includes(errorCode(error) ?? '')) throw error
}

/** A DatabaseError the session survives (not FATAL: the backend is still there). */
function statementError(error: unknown): pg.DatabaseError | undefined {
  return error instanceof pg.DatabaseError && error.severity !== 'FATAL' && error.severity !== 'PANIC' ? error : undefined
}

/** Fields of pg's Client that its type declarations leave out. */
interface ClientInternals {
  processID?: number
  connection?: { stream?: { destroy(): void } }
}

/** Handlers pg's Client calls on the active query that pg-cursor lacks or that we watch. */
interface CursorHandlers {
  handleCommandComplete(msg: { text: string }, connection: unknown): void
  handleEmptyQuery(connection: unknown): void
}
interface CopyConnection {
  sendCopyFail(message: string): void
}

/** pg-cursor, plus the raw command tag and a refusal of COPY (pg-cursor has no COPY handlers, and pg would throw). */
class StatementCursor extends Cursor<(string | null)[]> {
  tag: string | undefined
  finished = false
  copy = false

  constructor(
    sql: string,
    params: (string | null)[],
    private readonly onCopyOut: () => void
  ) {
    super(sql, params, { rowMode: 'array', types: RAW_TYPES })
  }

  handleCommandComplete(msg: { text: string }, connection: unknown): void {
    this.tag = msg.text
    this.finished = true
    ;(Cursor.prototype as unknown as CursorHandlers).handleCommandComplete.call(this, msg, connection)
  }

  handleEmptyQuery(connection: unknown): void {
    this.finished = true
    ;(Cursor.prototype as unknown as CursorHandlers).handleEmptyQuery.call(this, connection)
  }

  handleCopyInResponse(connection: CopyConnection): void {
    this.copy = true
    connection.sendCopyFail(COPY_REFUSED)
  }

  /** COPY TO STDOUT: the backend streams until done; it is cancelled from outside and the client destroyed. */
  handleCopyData(): void {
    if (this.copy) return
    this.copy = true
    this.onCopyOut()
  }
}

interface PoolEntry {
  pool: pg.Pool
  secret: string
  /** Clients handed out and not yet released (a pool with none can be closed for room). */
  busy: number
  lastUsed: number
}

export class PostgresWorkspaceEngine implements WorkspaceEngine {
  readonly kind = 'postgres' as const
  private readonly admin: pg.Pool
  private readonly adminUrl: URL
  private readonly log: PostgresWorkspaceEngineOptions['log']
  private readonly maxConnections: number
  private readonly poolIdleMs: number
  /** Workspace pools, least recently used first. */
  private readonly pools = new Map<string, PoolEntry>()
  /** Pools being ended: their connections still count until they are gone. */
  private readonly retiring = new Map<pg.Pool, Promise<void>>()
  private readonly broken = new WeakSet<pg.ClientBase>()
  /** Connections being reset after their request answered (close() waits for them). */
  private readonly resetting = new Set<Promise<void>>()
  private waiters: (() => void)[] = []
  private adminChecked: Promise<{ superuser: boolean }> | undefined
  private closed = false

  constructor(options: PostgresWorkspaceEngineOptions) {
    this.adminUrl = new URL(options.adminUrl)
    this.log = options.log
    this.maxConnections = options.maxConnections ?? 50
    this.poolIdleMs = options.poolIdleMs ?? 30_000
    this.admin = new pg.Pool({ connectionString: options.adminUrl, max: 2, idleTimeoutMillis: this.poolIdleMs, allowExitOnIdle: true })
    this.admin.on('error', (error) => this.log?.warn({ code: errorCode(error), err: error.message }, 'workspace admin connection failed while idle'))
    this.admin.on('connect', (client) => client.on('error', () => undefined))
  }

  // ---- provisioning (as the admin) ----

  async provision(workspace: WorkspaceHandle): Promise<void> {
    const name = workspace.engineName
    const secret = this.secretOf(workspace)
    const { superuser } = await this.checkAdmin()
    const role = quoteIdent(name)
    const client = await this.admin.connect()
    // Concurrent GRANT / REVOKE / ALTER ROLE on one object fail with "tuple concurrently updated":
    // instances provisioning the same workspace take turns (a session lock, as CREATE DATABASE cannot run in a transaction).
    await client.query('SELECT pg_catalog.pg_advisory_lock($1, pg_catalog.hashtext($2))', [PROVISION_LOCK, name])
    try {
      try {
        await client.query(`CREATE ROLE ${role} LOGIN PASSWORD ${passwordSql(secret)} NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS INHERIT`)
      } catch (error) {
        // Made before, or by another instance just now (its catalog insert won the race).
        tolerate(error, ['42710', '23505'])
        await client.query(`ALTER ROLE ${role} WITH LOGIN PASSWORD ${passwordSql(secret)}`)
      }
      // CREATE DATABASE ... OWNER needs membership in the owner unless superuser.
      if (!superuser) await client.query(`GRANT ${role} TO CURRENT_USER`).catch((error: unknown) => tolerate(error, ['23505']))
      try {
        await client.query(`CREATE DATABASE ${role} OWNER ${role}`)
      } catch (error) {
        tolerate(error, ['42P04', '23505'])
      }
      await client.query(`REVOKE ALL ON DATABASE ${role} FROM PUBLIC`)
      try {
        await client.query(`ALTER ROLE ${role} SET temp_file_limit = '${TEMP_FILE_LIMIT}'`)
      } catch (error) {
        // temp_file_limit is a superuser setting: a CREATEROLE admin is refused, which is fine.
        tolerate(error, ['42501'])
      }
    } finally {
      await client
        .query('SELECT pg_catalog.pg_advisory_unlock($1, pg_catalog.hashtext($2))', [PROVISION_LOCK, name])
        .then(() => client.release())
        .catch((error: Error) => client.release(error))
    }
  }

  /** The admin's rights, checked once before the first provision. */
  private checkAdmin(): Promise<{ superuser: boolean }> {
    this.adminChecked ??= (async () => {
      const { rows } = await this.admin.query<{ rolname: string; rolsuper: boolean; rolcreatedb: boolean; rolcreaterole: boolean }>(
        'SELECT rolname, rolsuper, rolcreatedb, rolcreaterole FROM pg_catalog.pg_roles WHERE rolname = current_user'
      )
      const row = rows[0]
      if (!row) throw new Error('WORKSPACES_DATABASE_URL: the role it logs in as is not in pg_roles')
      if (row.rolsuper) return { superuser: true }
      const missing = [row.rolcreatedb ? '' : 'CREATEDB', row.rolcreaterole ? '' : 'CREATEROLE'].filter(Boolean)
      if (missing.length > 0) {
        throw new Error(
          `WORKSPACES_DATABASE_URL must log in as a role with CREATEDB and CREATEROLE (or a superuser): role "${row.rolname}" lacks ${missing.join(' and ')}; ` +
            `ALTER ROLE "${row.rolname}" CREATEDB CREATEROLE`
        )
      }
      return { superuser: false }
    })()
    this.adminChecked.catch(() => (this.adminChecked = undefined))
    return this.adminChecked
  }

  private secretOf(workspace: WorkspaceHandle): string {
    if (!workspace.engineSecret) throw new Error(`workspace database ${workspace.engineName} has no password`)
    return workspace.engineSecret
  }

  // ---- requests (as the workspace's role) ----

  async run(workspace: WorkspaceHandle, request: RunRequest): Promise<RunOutcome> {
    const requestLimit = (request.limits as RunLimits & { requestTimeoutMs?: number }).requestTimeoutMs
    const started = Date.now()
    return this.withSession(workspace, request.limits, (session) =>
      runOnSession(session, request, {
        beforeStatement: async (index) => {
          if (requestLimit !== undefined && Date.now() - started > requestLimit) throw requestTimeout(requestLimit, index)
          await session.setTimeout(index)
        }
      })
    )
  }

  async tables(workspace: WorkspaceHandle, limits: RunLimits): Promise<{ name: string; rowCount: number }[]> {
    return this.withSession(workspace, limits, async (session) => {
      await session.setTimeout(0)
      const tables: { name: string; rowCount: number }[] = []
      for (const [schema, name] of await session.rows(TABLES_SQL)) {
        const count = await session.scalar(`SELECT pg_catalog.count(*)::pg_catalog.text FROM ${quoteIdent(schema ?? '')}.${quoteIdent(name ?? '')}`)
        tables.push({ name: schema === 'public' ? (name ?? '') : `${schema}.${name}`, rowCount: Number(count) })
      }
      return tables
    })
  }

  async size(workspace: WorkspaceHandle, limits: RunLimits): Promise<number> {
    return this.withSession(workspace, limits, async (session) => {
      await session.setTimeout(0)
      return Number(await session.scalar(SIZE_SQL))
    })
  }

  /** One session for one request; its state is reset (or the connection destroyed) before anyone else gets it. */
  private async withSession<T>(workspace: WorkspaceHandle, limits: RunLimits, fn: (session: WorkspaceSession) => Promise<T>): Promise<T> {
    const { entry, client } = await this.acquire(workspace)
    const session = new WorkspaceSession(this, workspace, client, limits)
    try {
      return await fn(session)
    } finally {
      // After the answer, not before it: the connection goes back to the pool only once reset.
      const reset = this.resetAndRelease(entry, client)
      this.resetting.add(reset)
      void reset.finally(() => this.resetting.delete(reset))
    }
  }

  /** A lone BEGIN, SET ROLE, temporary tables, prepared statements, advisory locks: none outlive the request. */
  private async resetAndRelease(entry: PoolEntry, client: pg.PoolClient): Promise<void> {
    if (!this.isBroken(client)) {
      try {
        await client.query('ROLLBACK')
        await client.query('DISCARD ALL')
      } catch {
        this.broken.add(client)
      }
    }
    this.release(entry, client)
  }

  private async acquire(workspace: WorkspaceHandle): Promise<{ entry: PoolEntry; client: pg.PoolClient }> {
    const deadline = Date.now() + ACQUIRE_TIMEOUT_MS
    let repaired = false
    for (;;) {
      if (this.closed) throw workspaceUnavailable('the workspace engine is shutting down')
      const entry = this.entry(workspace)
      if (this.makeRoom(entry)) {
        entry.busy++
        entry.lastUsed = Date.now()
        try {
          return { entry, client: await entry.pool.connect() }
        } catch (error) {
          entry.busy--
          this.wake()
          // The workspace can change its own password and its database's connection limit: the admin sets them back, once.
          if (!repaired && ['28P01', '53300'].includes(errorCode(error) ?? '')) {
            repaired = true
            if (await this.repair(workspace)) continue
          }
          throw this.unavailable(workspace, error, 'connecting')
        }
      }
      if (Date.now() >= deadline) throw workspaceUnavailable('too many workspace sessions are open right now; retry shortly', 1)
      await new Promise<void>((resolve) => {
        this.waiters.push(resolve)
        setTimeout(resolve, 100).unref()
      })
    }
  }

  /** True when the workspace's pool may take or open a connection within maxConnections; closes idle pools to make room. */
  private makeRoom(entry: PoolEntry): boolean {
    const { pool } = entry
    // An idle connection is reused; a full pool queues the request on its own connections.
    if (pool.idleCount > 0 || pool.totalCount >= PER_WORKSPACE_CONNECTIONS) return true
    for (const [name, other] of this.pools) {
      if (this.open() < this.maxConnections) break
      if (other === entry || other.busy > 0 || other.pool.totalCount === 0) continue
      this.pools.delete(name)
      void this.retire(other.pool)
    }
    return this.open() < this.maxConnections
  }

  /** The workspace's pool, moved to the most recently used end; a new one when the password changed. */
  private entry(workspace: WorkspaceHandle): PoolEntry {
    const name = workspace.engineName
    const secret = this.secretOf(workspace)
    let entry = this.pools.get(name)
    this.pools.delete(name)
    if (entry && entry.secret !== secret) {
      void this.retire(entry.pool)
      entry = undefined
    }
    entry ??= { pool: this.newPool(name, secret), secret, busy: 0, lastUsed: Date.now() }
    this.pools.set(name, entry)
    this.sweep()
    return entry
  }

  private newPool(name: string, secret: string): pg.Pool {
    const url = new URL(this.adminUrl.href)
    url.username = name
    url.password = secret
    url.pathname = `/${name}`
    // No application_name: it would show the workspace's namespace to every other role in pg_stat_activity.
    url.searchParams.delete('application_name')
    const pool = new pg.Pool({
      connectionString: url.href,
      max: PER_WORKSPACE_CONNECTIONS,
      idleTimeoutMillis: this.poolIdleMs,
      connectionTimeoutMillis: ACQUIRE_TIMEOUT_MS,
      allowExitOnIdle: true,
      types: RAW_TYPES
    })
    // A workspace may end its own backends: a dead client is marked, never reused, never an uncaught error.
    pool.on('connect', (client) => client.on('error', () => this.broken.add(client)))
    pool.on('error', () => undefined)
    return pool
  }

  /** Pools with no connection left and unused for poolIdleMs are dropped. */
  private sweep(): void {
    const now = Date.now()
    for (const [name, entry] of this.pools) {
      if (entry.busy === 0 && entry.pool.totalCount === 0 && now - entry.lastUsed > this.poolIdleMs) {
        this.pools.delete(name)
        void this.retire(entry.pool)
      }
    }
  }

  /** Ends a pool (once: its clients in use are removed as they are released). */
  private retire(pool: pg.Pool): Promise<void> {
    let ending = this.retiring.get(pool)
    if (!ending) {
      ending = pool
        .end()
        .catch(() => undefined)
        .finally(() => {
          this.retiring.delete(pool)
          this.wake()
        })
      this.retiring.set(pool, ending)
    }
    return ending
  }

  private release(entry: PoolEntry, client: pg.PoolClient): void {
    entry.busy--
    entry.lastUsed = Date.now()
    if (this.isBroken(client)) {
      client.release(new Error('workspace session ended'))
      destroySocket(client)
    } else {
      client.release()
    }
    this.wake()
  }

  private wake(): void {
    const waiters = this.waiters
    this.waiters = []
    for (const resolve of waiters) resolve()
  }

  /** Connections open to workspace databases. */
  private open(): number {
    let open = 0
    for (const { pool } of this.pools.values()) open += pool.totalCount
    for (const pool of this.retiring.keys()) open += pool.totalCount
    return open
  }

  isBroken(client: pg.ClientBase): boolean {
    return this.broken.has(client)
  }

  markBroken(client: pg.ClientBase): void {
    this.broken.add(client)
  }

  /** A connection problem as the API's 503: the code for the logs, no workspace name or password in the answer. */
  unavailable(workspace: WorkspaceHandle, error: unknown, doing: string): ApiError {
    const code = errorCode(error)
    this.log?.warn({ workspace: workspace.engineName, code, err: error instanceof Error ? error.message : String(error) }, `workspace database unavailable while ${doing}`)
    return workspaceUnavailable(`the workspace's database is unavailable right now${code ? ` (${code})` : ''}; retry shortly`)
  }

  /** Sets back what the workspace may change about its own login: its password and its database's connection limit. */
  private async repair(workspace: WorkspaceHandle): Promise<boolean> {
    const name = quoteIdent(workspace.engineName)
    try {
      await this.admin.query(`ALTER ROLE ${name} WITH PASSWORD ${passwordSql(this.secretOf(workspace))}`)
      await this.admin.query(`ALTER DATABASE ${name} WITH CONNECTION LIMIT -1`)
      return true
    } catch (error) {
      this.log?.warn({ workspace: workspace.engineName, code: errorCode(error) }, 'could not reset the workspace login')
      return false
    }
  }

  /**
   * Cancels or ends a backend of the workspace from outside its session: as the workspace's
   * own role first (it may signal its own backends), else as the admin.
   */
  async signal(workspace: WorkspaceHandle, pid: number, how: 'cancel' | 'terminate'): Promise<void> {
    const sql = `SELECT pg_catalog.pg_${how}_backend($1)`
    const entry = this.pools.get(workspace.engineName)
    const own = new pg.Client({ connectionString: this.workspaceUrl(workspace), connectionTimeoutMillis: ACQUIRE_TIMEOUT_MS })
    own.on('error', () => undefined)
    try {
      await own.connect()
      await own.query(sql, [pid])
      return
    } catch {
      // Fall through to the admin (e.g. the database's connection limit is reached).
    } finally {
      void own.end().catch(() => undefined)
    }
    try {
      await this.admin.query(sql, [pid])
    } catch (error) {
      this.log?.warn({ workspace: workspace.engineName, pid, code: errorCode(error), pool: entry ? 'open' : 'none' }, `could not ${how} a workspace backend`)
    }
  }

  private workspaceUrl(workspace: WorkspaceHandle): string {
    const url = new URL(this.adminUrl.href)
    url.username = workspace.engineName
    url.password = this.secretOf(workspace)
    url.pathname = `/${workspace.engineName}`
    url.searchParams.delete('application_name')
    return url.href
  }

  // ---- lifecycle ----

  async evict(workspace: WorkspaceHandle): Promise<void> {
    const entry = this.pools.get(workspace.engineName)
    this.pools.delete(workspace.engineName)
    const ended = entry ? this.retire(entry.pool) : Promise.resolve()
    // Sessions in flight end now (their requests answer 503), not when they finish.
    try {
      await this.admin.query('SELECT pg_catalog.pg_terminate_backend(pid) FROM pg_catalog.pg_stat_activity WHERE datname = $1 AND pid <> pg_catalog.pg_backend_pid()', [
        workspace.engineName
      ])
    } catch (error) {
      this.log?.warn({ workspace: workspace.engineName, code: errorCode(error) }, 'could not end the workspace backends')
    }
    await ended
  }

  stats(): { open: number } {
    return { open: this.open() }
  }

  async close(): Promise<void> {
    this.closed = true
    await Promise.all(this.resetting)
    this.wake()
    const pools = [...this.pools.values()].map((entry) => entry.pool)
    this.pools.clear()
    await Promise.all([...pools.map((pool) => this.retire(pool)), ...this.retiring.values()])
    await this.admin.end().catch(() => undefined)
  }
}

/** Ends the connection at once, whatever state the protocol is in. */
function destroySocket(client: pg.ClientBase): void {
  ;(client as unknown as ClientInternals).connection?.stream?.destroy()
}

/** One request's session: a connection logged in as the workspace's role. */
class WorkspaceSession implements SqlSession {
  /** The statement being run (for errors of the server's own SQL around it, e.g. a deferred constraint at COMMIT). */
  private index = 0

  constructor(
    private readonly engine: PostgresWorkspaceEngine,
    private readonly workspace: WorkspaceHandle,
    private readonly client: pg.PoolClient,
    private readonly limits: RunLimits
  ) {}

  /** Set before the next statement; a BEGIN takes it along in the same round trip. */
  private pendingTimeout: string | undefined

  /** The workspace can change statement_timeout: it is set again before every statement. */
  async setTimeout(index: number): Promise<void> {
    this.index = index
    this.pendingTimeout = `SET statement_timeout = ${Math.max(1, Math.floor(this.limits.statementTimeoutMs))}`
  }

  private async flushTimeout(): Promise<void> {
    const sql = this.pendingTimeout
    this.pendingTimeout = undefined
    if (sql) await this.runControl(sql)
  }

  async statement(sql: string, params: (string | null)[], maxRows: number, index: number): Promise<RawResult> {
    this.index = index
    await this.flushTimeout()
    const cursor = new StatementCursor(sql, params, () => this.fromOutside('cancel'))
    const refusal = (error: unknown): unknown => {
      if (error instanceof SessionSqlError) return error
      if (cursor.copy) return new SessionSqlError(COPY_REFUSED, '0A000')
      return this.translate(error)
    }
    return this.guarded(refusal, async () => {
      this.client.query(cursor)
      // In batches, so an answer already over maxResultBytes stops being read (runOnSession then refuses it).
      const rows: (string | null)[][] = []
      let bytes = 0
      while (rows.length <= maxRows && !cursor.finished && bytes <= this.limits.maxResultBytes) {
        const batch = await new Promise<(string | null)[][]>((resolve, reject) => {
          cursor.read(Math.min(maxRows + 1 - rows.length, READ_BATCH_ROWS), (error, rows) => (error ? reject(error) : resolve(rows)))
        })
        if (batch.length === 0) break
        rows.push(...batch)
        bytes += rawBytes(batch)
      }
      const fields = (cursor as unknown as { _result: pg.QueryResult })._result.fields.map((f) => ({ name: f.name, typeOid: f.dataTypeID }))
      // Not read to its end (more rows or bytes than allowed): the portal is still open; close it (runOnSession refuses the result).
      if (!cursor.finished) await this.closeCursor(cursor)
      if (cursor.copy) throw new SessionSqlError(COPY_REFUSED, '0A000')
      const { command, rowCount } = cursor.tag === undefined ? { command: cursor.finished ? '' : 'SELECT', rowCount: null } : parseCommandTag(cursor.tag)
      // Read in several batches, the tag counts the last batch only; a statement returning rows returns one per row it processed.
      return { fields, rows, command, rowCount: rowCount !== null && fields.length > 0 && cursor.finished ? rows.length : rowCount }
    })
  }

  async control(sql: string): Promise<void> {
    // BEGIN and the timeout in one simple query: one round trip (the SET is part of the
    // transaction, and set again before every statement).
    if (this.pendingTimeout && /^BEGIN\b/.test(sql)) {
      const timeout = this.pendingTimeout
      this.pendingTimeout = undefined
      return this.runControl(`${sql}; ${timeout}`)
    }
    await this.flushTimeout()
    return this.runControl(sql)
  }

  /** The server's own SQL can run the workspace's code too (deferred triggers at COMMIT, row security policies): guarded the same way. */
  private async runControl(sql: string): Promise<void> {
    await this.guarded(
      (error) => this.translate(error, true),
      () => this.client.query(sql)
    )
  }

  async scalar(sql: string): Promise<string | null> {
    return (await this.rows(sql))[0]?.[0] ?? null
  }

  async rows(sql: string): Promise<(string | null)[][]> {
    await this.flushTimeout()
    return this.guarded(
      (error) => this.translate(error, true),
      async () => (await this.client.query<(string | null)[]>({ text: sql, rowMode: 'array' })).rows
    )
  }

  /**
   * Runs one exchange under the watchdog: statement_timeout should end it first (plpgsql can
   * catch that cancellation); if not, the backend is ended from outside, and if even that does
   * not answer, the socket is destroyed.
   */
  private async guarded<T>(failure: (error: unknown) => unknown, run: () => Promise<T>): Promise<T> {
    this.usable()
    let fired = false
    let socketTimer: NodeJS.Timeout | undefined
    const watchdog = setTimeout(() => {
      fired = true
      this.fromOutside('terminate')
      socketTimer = setTimeout(() => destroySocket(this.client), SOCKET_GRACE_MS)
    }, this.limits.statementTimeoutMs + WATCHDOG_GRACE_MS)
    try {
      return await run()
    } catch (error) {
      if (fired) throw statementTimeout(this.limits.statementTimeoutMs, this.index)
      throw failure(error)
    } finally {
      clearTimeout(watchdog)
      clearTimeout(socketTimer)
    }
  }

  /** Signals this session's backend from another connection; the session is not used again. */
  private fromOutside(how: 'cancel' | 'terminate'): void {
    this.engine.markBroken(this.client)
    const pid = (this.client as unknown as ClientInternals).processID
    if (pid !== undefined) void this.engine.signal(this.workspace, pid, how)
  }

  /** Closes a suspended portal; a connection that dies meanwhile would never answer, so its end is awaited too. */
  private async closeCursor(cursor: StatementCursor): Promise<void> {
    const { client } = this
    let onEnd: (() => void) | undefined
    try {
      await Promise.race([
        cursor.close(),
        new Promise<never>((_, reject) => {
          onEnd = () => reject(new Error('the connection ended'))
          client.once('end', onEnd)
          client.once('error', onEnd)
        })
      ])
    } finally {
      if (onEnd) {
        client.removeListener('end', onEnd)
        client.removeListener('error', onEnd)
      }
    }
  }

  private usable(): void {
    if (this.engine.isBroken(this.client)) throw workspaceUnavailable("the workspace's session ended; retry")
  }

  /**
   * The database's answer as the API's: a statement error stays the workspace's own (400); a
   * FATAL error or a lost connection makes the session unusable (503). The server's own SQL
   * (`ours`) fails with an ApiError directly: runOnSession only maps the statement's errors.
   */
  private translate(error: unknown, ours = false): unknown {
    const refused = statementError(error)
    if (refused) {
      if (refused.code === '57014') return statementTimeout(this.limits.statementTimeoutMs, this.index)
      return ours ? sqlError(refused.message, refused.code, this.index) : new SessionSqlError(refused.message, refused.code)
    }
    this.engine.markBroken(this.client)
    return this.engine.unavailable(this.workspace, error, 'running a statement')
  }
}
