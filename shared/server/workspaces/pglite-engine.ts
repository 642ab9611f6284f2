/**
 * Embedded workspaces: one PGlite instance per workspace, each with its own data directory
 * under `root` (DATA_DIR/workspaces) and its own worker thread (pglite-worker.mjs).
 *
 * PGlite always runs as its bootstrap superuser, so an instance holds one workspace and
 * nothing else, and its session is switched to the non-superuser role `workspace` when it
 * opens. Only SET SESSION AUTHORIZATION (or set_config of it) can switch back: every statement
 * runs in a transaction of its own and the role is checked after it (roleChanged), so such a
 * change is rolled back and the instance is thrown away.
 *
 * A statement blocks its worker completely and statement_timeout has no effect in PGlite: the
 * time limit is a timer here that terminates the worker. Committed data survives that; the next
 * request opens the instance again.
 *
 * New workspaces are copies of a template directory (the made cluster unpacked, or PGlite's
 * initdb where there is none, once; then a file copy).
 */
/* eslint-disable @typescript-eslint/no-unsafe-assignment, @typescript-eslint/no-redundant-type-constituents --
   PGlite's types name WebAssembly.Module, which this project's TypeScript lib (no DOM) does not declare: the linter sees those values as untyped. */
import { randomBytes } from 'node:crypto'
import { access, chmod, cp, mkdir, readdir, rename, rm } from 'node:fs/promises'
import { join } from 'node:path'
import { Worker } from 'node:worker_threads'
import { compiledEngine, pgliteVersion, restrictToOwner, type WasmModule } from '../store/pglite'
import { unpackCluster } from '../store/pglite-cluster'
import type { RunLimits, RunOutcome, RunRequest, WorkspaceEngine, WorkspaceHandle } from './engine'
import { requestTimeout, sqlError, statementTimeout, workspaceUnavailable } from './errors'
import { quoteIdent, runOnSession, SessionSqlError, SIZE_SQL, TABLES_SQL, type SqlSession } from './session'
import type { RawResult } from './values'

/** PGlite's own start parameters (kept as they are), then smaller buffers: many instances share the process. */
const START_PARAMS = [
  '--single',
  '-F',
  '-O',
  '-j',
  '-c',
  'search_path=public',
  '-c',
  'exit_on_error=false',
  '-c',
  'log_checkpoints=false',
  '-c',
  'max_worker_processes=0',
  '-c',
  'max_parallel_workers=0',
  '-c',
  'max_parallel_workers_per_gather=0',
  '-c',
  'io_method=sync',
  '-c',
  'max_parallel_maintenance_workers=0',
  '-c',
  'shared_buffers=8MB',
  '-c',
  'work_mem=2MB'
]

const ROLE = 'workspace'
const TEMPLATE = '.template'
const WORKER_URL = new URL('./pglite-worker.mjs', import.meta.url)
/** The JavaScript heap of a worker (PGlite's own memory is WebAssembly memory, outside it). */
const WORKER_RESOURCE_LIMITS = { maxOldGenerationSizeMb: 256 }
/** An instance whose WebAssembly memory grew past this (it never shrinks) is closed after the request that grew it. */
const MAX_HEAP_BYTES = 512 * 1024 * 1024
/** How long a graceful close, the set-up SQL and the session reset may take before the worker is terminated. */
const HOUSEKEEPING_MS = 10_000

/** The template's set-up, as the bootstrap superuser: a role that can own the public schema and nothing more. */
const TEMPLATE_SQL = [
  `CREATE ROLE ${ROLE} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS`,
  `GRANT ALL ON SCHEMA public TO ${ROLE}`,
  `ALTER SCHEMA public OWNER TO ${ROLE}`,
  // Schemas of its own, as a PostgreSQL database of its own would allow.
  `GRANT CREATE ON DATABASE postgres TO ${ROLE}`
]

/**
 * 'true' while the session is the workspace's role and that role has gained nothing: no
 * superuser (directly or by a role it was given), no other role's privileges. Server SQL:
 * every name pg_catalog-qualified.
 */
const ROLE_CHECK_SQL = `SELECT (SESSION_USER OPERATOR(pg_catalog.=) '${ROLE}'::pg_catalog.name
  AND CURRENT_USER OPERATOR(pg_catalog.=) '${ROLE}'::pg_catalog.name
  AND pg_catalog.current_setting('is_superuser') OPERATOR(pg_catalog.=) 'off'
  AND NOT EXISTS (SELECT FROM pg_catalog.pg_roles r WHERE r.rolname OPERATOR(pg_catalog.=) '${ROLE}'::pg_catalog.name
    AND (r.rolsuper OR r.rolcreaterole OR r.rolcreatedb OR r.rolreplication OR r.rolbypassrls))
  AND NOT EXISTS (SELECT FROM pg_catalog.pg_auth_members m JOIN pg_catalog.pg_roles r ON r.oid OPERATOR(pg_catalog.=) m.member
    WHERE r.rolname OPERATOR(pg_catalog.=) '${ROLE}'::pg_catalog.name))::pg_catalog.text`

/**
 * What a request leaves in the session (settings, temporary tables, cursors WITH HOLD, locks, LISTEN), undone between requests.
 * DISCARD ALL keeps the session user in PGlite (standalone mode records no reset value for it); the SET makes sure either way.
 */
const RESET_SQL = ['DISCARD ALL', `SET SESSION AUTHORIZATION ${ROLE}`]

/** A directory name under root: no path separators, no dot files (the template and temp copies are dot files). */
const ENGINE_NAME = /^[A-Za-z0-9_][A-Za-z0-9_-]{0,127}$/

export interface EmbeddedEngineLog {
  warn(fields: object, message: string): void
}

export interface EmbeddedEngineOptions {
  /** DATA_DIR/workspaces: the template and one directory per workspace. */
  root: string
  /** Instances open at once; the least recently used idle one is closed to make room. */
  maxOpen?: number
  /** An instance unused this long is closed. */
  idleMs?: number
  log?: EmbeddedEngineLog
}

/** before: the server's own SQL to run first in the same hand-off (the session reset, a transaction's BEGIN). */
type Op =
  | { op: 'statement'; sql: string; params: (string | null)[]; maxRows: number; after?: string; before?: string[] }
  | { op: 'control' | 'scalar'; sql: string; before?: string[] }
  | { op: 'controls'; sqls: string[]; before?: string[] }
  | { op: 'close' }
interface WorkerReply {
  id?: number
  ready?: boolean
  result?: unknown
  error?: { message: string; sqlstate?: string; broken?: boolean; phase?: 'before' }
  heap?: number
}

/** One open PGlite instance in its worker thread. */
class Instance {
  readonly worker: Worker
  readonly ready: Promise<void>
  /** Resolves when the worker thread has ended, however it ended. */
  readonly exited: Promise<void>
  gone = false
  /** In use by a task of its workspace's queue (never closed for room or idleness meanwhile). */
  busy = false
  /** Ran as another role at some point: thrown away after the request. */
  tainted = false
  /** A request ran since the last reset: the next hand-off resets the session first (RESET_SQL). */
  needsReset = false
  retired = false
  /** Its WebAssembly memory in bytes, as of the last answer. */
  heap = 0
  idleTimer: NodeJS.Timeout | undefined
  private nextId = 0
  private readonly pending = new Map<number, { resolve(value: unknown): void; reject(error: Error): void }>()
  /** Why the worker ended: the error its pending call answers with. */
  private ending: Error | undefined

  constructor(
    readonly name: string,
    dataDir: string,
    asWorkspace: boolean,
    wasmModule: WasmModule | undefined
  ) {
    this.worker = new Worker(WORKER_URL, { workerData: { dataDir, startParams: START_PARAMS, asWorkspace, wasmModule }, resourceLimits: WORKER_RESOURCE_LIMITS })
    let settle: { resolve(): void; reject(error: Error): void } | undefined
    this.ready = new Promise<void>((resolve, reject) => (settle = { resolve, reject }))
    this.exited = new Promise<void>((resolve) => this.worker.once('exit', () => resolve()))
    this.worker.on('message', (reply: WorkerReply) => {
      if (reply.id === undefined) {
        if (reply.ready) settle?.resolve()
        else settle?.reject(new Error(`the workspace's database did not open: ${reply.error?.message ?? 'unknown error'}`))
        return
      }
      const call = this.pending.get(reply.id)
      this.pending.delete(reply.id)
      this.heap = reply.heap ?? this.heap
      if (reply.error?.broken) {
        // Its answers can no longer be trusted to belong to the statement asked: the instance ends here, its open transaction lost.
        const error = workspaceUnavailable("the workspace's database stopped answering properly; try again")
        call?.reject(error)
        void this.kill(error)
      } else if (reply.error?.phase === 'before') {
        // The reset of the last request's session, or a BEGIN, failed: the session is not known to be clean.
        this.tainted = true
        call?.reject(workspaceUnavailable("the workspace's session could not be reset; try again"))
      } else if (reply.error) call?.reject(new SessionSqlError(reply.error.message, reply.error.sqlstate))
      else call?.resolve(reply.result ?? null)
    })
    // An uncaught error or running out of memory in the worker: reported by 'error', then 'exit'.
    this.worker.on('error', (error) => {
      this.ending ??= workspaceUnavailable(`the workspace's database stopped (${error.message}); try again`)
    })
    this.worker.once('exit', (code) => {
      this.gone = true
      const error = this.ending ?? workspaceUnavailable(`the workspace's database stopped (exit ${code}); try again`)
      settle?.reject(error)
      for (const call of this.pending.values()) call.reject(error)
      this.pending.clear()
    })
  }

  /**
   * One message to the worker. When no answer comes within `timeoutMs` the worker is terminated
   * and the call rejects with `onTimeout()`.
   */
  call(message: Op, timeoutMs: number, onTimeout: () => Error): Promise<unknown> {
    if (this.gone) return Promise.reject(this.ending ?? workspaceUnavailable("the workspace's database was closed; try again"))
    const id = ++this.nextId
    return new Promise<unknown>((resolve, reject) => {
      const timer = setTimeout(() => void this.kill(onTimeout()), Math.max(timeoutMs, 0))
      const done = (): void => clearTimeout(timer)
      this.pending.set(id, {
        resolve: (value) => (done(), resolve(value)),
        reject: (error) => (done(), reject(error))
      })
      this.worker.postMessage({ id, ...message })
    })
  }

  /** What a hand-off must run before `extra`: the session reset when a request ran since the last one. */
  takeBefore(extra: string[] = []): string[] {
    const before = this.needsReset ? [...RESET_SQL, ...extra] : extra
    this.needsReset = false
    return before
  }

  /** Ends the worker at once; its pending call rejects with `reason`. */
  kill(reason: Error): Promise<void> {
    this.ending ??= reason
    void this.worker.terminate()
    return this.exited
  }

  /** pg.close() in the worker (a clean shutdown), the worker terminated if that does not answer in time. */
  async close(): Promise<void> {
    if (!this.gone) {
      const reason = workspaceUnavailable("the workspace's database was closed; try again")
      await this.call({ op: 'close' }, HOUSEKEEPING_MS, () => reason).catch(() => this.kill(reason))
    }
    await this.exited
  }
}

const exists = (path: string): Promise<boolean> =>
  access(path).then(
    () => true,
    () => false
  )

async function makePrivateDir(dir: string): Promise<void> {
  await mkdir(dir, { recursive: true, mode: 0o700 })
  await chmod(dir, 0o700) // whatever the umask
}

export class EmbeddedWorkspaceEngine implements WorkspaceEngine {
  readonly kind = 'embedded' as const
  private readonly root: string
  private readonly maxOpen: number
  private readonly idleMs: number
  private readonly log: EmbeddedEngineLog | undefined
  private template: Promise<string> | undefined
  /** Open instances by workspace, least recently used first. */
  private readonly open = new Map<string, Instance>()
  /** Each workspace's queue: one task at a time per instance. */
  private readonly lanes = new Map<string, Promise<unknown>>()
  /** Instances being closed: the same directory is never opened twice at once. */
  private readonly closing = new Map<string, Promise<void>>()
  private closed = false

  constructor(options: EmbeddedEngineOptions) {
    this.root = options.root
    this.maxOpen = Math.max(1, options.maxOpen ?? 16)
    this.idleMs = options.idleMs ?? 60_000
    this.log = options.log
  }

  async provision(workspace: WorkspaceHandle): Promise<void> {
    const dir = this.dirOf(workspace)
    const template = await this.ensureTemplate()
    if (await exists(dir)) return
    const temp = join(this.root, `.tmp-${workspace.engineName}-${randomBytes(6).toString('hex')}`)
    try {
      await cp(template, temp, { recursive: true })
      await chmod(temp, 0o700)
      await restrictToOwner(temp)
      // Atomic: a directory by that name is a complete copy. A concurrent provision that renamed first wins.
      await rename(temp, dir).catch(async (error: NodeJS.ErrnoException) => {
        if (!(await exists(dir))) throw error
      })
    } finally {
      await rm(temp, { recursive: true, force: true })
    }
  }

  run(workspace: WorkspaceHandle, request: RunRequest): Promise<RunOutcome> {
    const name = this.nameOf(workspace)
    const outcome = this.enqueue(name, async () => {
      const instance = await this.instanceFor(name)
      const limit = request.limits.statementTimeoutMs
      const requestLimit = request.limits.requestTimeoutMs
      const requestDeadline = requestLimit === undefined ? Infinity : Date.now() + requestLimit
      let index = 0
      let deadline = Date.now() + limit
      let byRequest = false
      const timedOut = (): Error => (byRequest ? requestTimeout(requestLimit ?? 0, index) : statementTimeout(limit, index))
      // A transaction's start waits here and goes with the next statement, which also carries the
      // role check: one thread hand-off per statement instead of three (each hand-off wakes a
      // thread on both sides, which is most of a small statement's time).
      let deferred: string[] = []
      let roleUnchanged: boolean | undefined
      const takeBefore = (): string[] => {
        const before = instance.takeBefore(deferred)
        deferred = []
        return before
      }
      const flushWith = async (sqls: string[]): Promise<void> => {
        const before = takeBefore()
        if (before.length || sqls.length) await instance.call({ op: 'controls', sqls, before }, limit, timedOut)
      }
      const session: SqlSession = {
        statement: async (sql, params, maxRows) => {
          const before = takeBefore()
          roleUnchanged = undefined
          const raw = (await instance.call({ op: 'statement', sql, params, maxRows, before, after: ROLE_CHECK_SQL }, deadline - Date.now(), timedOut)) as RawResult & {
            after?: string | null
          }
          roleUnchanged = raw.after === 'true'
          if (!roleUnchanged) instance.tainted = true
          return raw
        },
        // BEGIN (and the read-only guard after it) waits for the statement; the server's other SQL
        // runs now and gets the whole limit again: a COMMIT can run the workspace's deferred triggers.
        control: async (sql) => (/^(BEGIN\b|SELECT 1$)/.test(sql) ? void deferred.push(sql) : flushWith([sql])),
        scalar: async (sql) => {
          await flushWith([])
          return (await instance.call({ op: 'scalar', sql }, limit, timedOut)) as string | null
        },
        roleChanged: async () => {
          if (roleUnchanged === undefined) {
            await flushWith([])
            roleUnchanged = (await instance.call({ op: 'scalar', sql: ROLE_CHECK_SQL }, limit, timedOut)) === 'true'
            if (!roleUnchanged) instance.tainted = true
          }
          return !roleUnchanged
        }
      }
      try {
        return await runOnSession(session, request, {
          beforeStatement: async (i) => {
            index = i
            // The runner starts no statement past the request's limit; this ends one that would run past it.
            byRequest = requestDeadline < Date.now() + limit
            deadline = Math.min(Date.now() + limit, requestDeadline)
          }
        })
      } catch (error) {
        // A refusal of the server's own SQL around a statement (a COMMIT failing a deferred constraint) is still that statement's error.
        if (error instanceof SessionSqlError) throw sqlError(error.message, error.sqlstate, index)
        throw error
      } finally {
        // Undone lazily: the next hand-off of this instance starts with the reset, whatever task it is for.
        instance.needsReset = true
        this.release(instance)
      }
    })
    return outcome
  }

  tables(workspace: WorkspaceHandle, limits: RunLimits): Promise<{ name: string; rowCount: number }[]> {
    const name = this.nameOf(workspace)
    return this.enqueue(name, async () => {
      const instance = await this.instanceFor(name)
      const limit = limits.statementTimeoutMs
      const timedOut = (): Error => statementTimeout(limit, 0)
      const query = async (sql: string, maxRows: number): Promise<RawResult> => {
        try {
          return (await instance.call({ op: 'statement', sql, params: [], maxRows, before: instance.takeBefore() }, limit, timedOut)) as RawResult
        } catch (error) {
          if (error instanceof SessionSqlError) throw sqlError(error.message, error.sqlstate, 0)
          throw error
        }
      }
      try {
        const listed = await query(TABLES_SQL, 1001)
        const tables: { name: string; rowCount: number }[] = []
        for (const [schema, table] of listed.rows) {
          if (!schema || !table) continue
          const counted = await query(`SELECT pg_catalog.count(*)::pg_catalog.text FROM ${quoteIdent(schema)}.${quoteIdent(table)}`, 1)
          tables.push({ name: schema === 'public' ? table : `${schema}.${table}`, rowCount: Number(counted.rows[0]?.[0] ?? 0) })
        }
        return tables
      } finally {
        this.release(instance)
      }
    })
  }

  size(workspace: WorkspaceHandle, limits: RunLimits): Promise<number> {
    const name = this.nameOf(workspace)
    return this.enqueue(name, async () => {
      const instance = await this.instanceFor(name)
      try {
        const timedOut = (): Error => statementTimeout(limits.statementTimeoutMs, 0)
        return Number(await instance.call({ op: 'scalar', sql: SIZE_SQL, before: instance.takeBefore() }, limits.statementTimeoutMs, timedOut))
      } finally {
        this.release(instance)
      }
    })
  }

  async evict(workspace: WorkspaceHandle): Promise<void> {
    const name = this.nameOf(workspace)
    const instance = this.open.get(name)
    if (instance) this.retire(instance, false)
    await this.closing.get(name)
  }

  stats(): { open: number } {
    return { open: this.open.size }
  }

  async close(): Promise<void> {
    this.closed = true
    await this.template?.catch(() => undefined)
    // Requests under way finish (their time limits bound them); queued ones are refused by instanceFor.
    await Promise.all([...this.lanes.values()])
    for (const instance of [...this.open.values()]) this.retire(instance, true)
    await Promise.all([...this.closing.values()])
  }

  private nameOf(workspace: WorkspaceHandle): string {
    if (!ENGINE_NAME.test(workspace.engineName)) throw new Error(`not a workspace engine name: ${JSON.stringify(workspace.engineName)}`)
    return workspace.engineName
  }

  private dirOf(workspace: WorkspaceHandle): string {
    return join(this.root, this.nameOf(workspace))
  }

  /** Runs `task` after every earlier task of the same workspace. */
  private enqueue<T>(name: string, task: () => Promise<T>): Promise<T> {
    const previous = this.lanes.get(name) ?? Promise.resolve()
    const result = previous.then(task, task)
    const tail = result.catch(() => undefined)
    this.lanes.set(name, tail)
    void tail.then(() => {
      if (this.lanes.get(name) === tail) this.lanes.delete(name)
    })
    return result
  }

  /** The workspace's open instance, opened if needed (room made by closing the least recently used idle one). Called from its queue only. */
  private async instanceFor(name: string): Promise<Instance> {
    if (this.closed) throw workspaceUnavailable('the server is shutting down')
    await this.closing.get(name)
    const current = this.open.get(name)
    if (current && !current.gone && !current.retired) {
      this.open.delete(name)
      this.open.set(name, current)
      clearTimeout(current.idleTimer)
      current.busy = true
      return current
    }
    if (current) this.retire(current, false)
    const dir = join(this.root, name)
    if (!(await exists(join(dir, 'PG_VERSION')))) throw new Error(`workspace ${name} has no database under ${this.root} (not provisioned)`)
    for (const [other, instance] of this.open) {
      if (this.open.size < this.maxOpen) break
      if (!instance.busy) this.retire(instance, true)
      else this.log?.warn({ workspace: other }, 'embedded workspaces: every open instance is busy; opening one more than maxOpen')
    }
    const instance = new Instance(name, dir, true, await compiledEngine())
    instance.busy = true
    this.open.set(name, instance)
    const stuck = setTimeout(() => void instance.kill(new Error(`did not open within ${HOUSEKEEPING_MS} ms`)), HOUSEKEEPING_MS)
    try {
      await instance.ready
    } catch (error) {
      this.retire(instance, false)
      this.log?.warn({ workspace: name, err: error }, 'embedded workspace did not open')
      throw workspaceUnavailable("the workspace's database could not be opened; try again")
    } finally {
      clearTimeout(stuck)
    }
    return instance
  }

  /** After a task: a tainted or ended instance is thrown away; otherwise it waits for the next one (closed when idle too long). */
  private release(instance: Instance): void {
    instance.busy = false
    if (instance.tainted || instance.gone) {
      this.retire(instance, false)
      return
    }
    if (instance.heap > MAX_HEAP_BYTES) {
      this.retire(instance, true)
      return
    }
    clearTimeout(instance.idleTimer)
    instance.idleTimer = setTimeout(() => {
      if (!instance.busy) this.retire(instance, true)
    }, this.idleMs)
    instance.idleTimer.unref()
  }

  /** Takes the instance out of use and closes it (gracefully, or at once); its directory is opened again only after that. */
  private retire(instance: Instance, graceful: boolean): void {
    if (this.open.get(instance.name) === instance) this.open.delete(instance.name)
    clearTimeout(instance.idleTimer)
    if (instance.retired) {
      if (!graceful) void instance.kill(workspaceUnavailable("the workspace's database was closed; try again"))
      return
    }
    instance.retired = true
    const ending = graceful ? instance.close() : instance.kill(workspaceUnavailable("the workspace's database was closed; try again"))
    const done = ending.finally(() => {
      if (this.closing.get(instance.name) === done) this.closing.delete(instance.name)
    })
    this.closing.set(instance.name, done)
  }

  /** `<root>/.template`: built once (the cluster, the role), in a temp directory renamed into place. */
  private ensureTemplate(): Promise<string> {
    this.template ??= this.buildTemplate().catch((error: unknown) => {
      this.template = undefined // a later provision tries again
      throw error
    })
    return this.template
  }

  private async buildTemplate(): Promise<string> {
    const template = join(this.root, TEMPLATE)
    await makePrivateDir(this.root)
    // Left by an interrupted provision or template build of an earlier process (this one copies nothing before the template is ready).
    const stale = (await readdir(this.root)).filter((entry) => entry.startsWith('.tmp-'))
    await Promise.all(stale.map((entry) => rm(join(this.root, entry), { recursive: true, force: true })))
    if (await exists(join(template, 'PG_VERSION'))) return template
    const temp = join(this.root, `.tmp-template-${randomBytes(6).toString('hex')}`)
    try {
      await makePrivateDir(temp)
      await unpackCluster(temp, await pgliteVersion())
      const instance = new Instance(TEMPLATE, temp, false, await compiledEngine())
      try {
        await instance.ready
        const failed = (): Error => new Error('building the workspace template took too long')
        for (const sql of TEMPLATE_SQL) await instance.call({ op: 'control', sql }, HOUSEKEEPING_MS, failed)
        await instance.call({ op: 'close' }, HOUSEKEEPING_MS, failed)
      } finally {
        await instance.kill(new Error('template closed'))
      }
      await restrictToOwner(temp)
      await rename(temp, template).catch(async (error: NodeJS.ErrnoException) => {
        if (!(await exists(join(template, 'PG_VERSION')))) throw error
      })
      return template
    } finally {
      await rm(temp, { recursive: true, force: true })
    }
  }
}
