/**
 * The workspace SQL API's service: a workspace row (store) meets its database (engine). It
 * provisions databases, applies the limits and the quota, keeps at most WORKSPACE_MAX_QUEUE
 * requests waiting per workspace, and counts usage. Usage is added up in memory and written
 * once a second (and at close), added to the row's counters so several instances can count at
 * once; the quota check reads the last measured size.
 */
import { randomBytes } from 'node:crypto'
import type { WorkspaceConfig } from '../config'
import { ApiError } from '../errors'
import type { Store } from '../store/store'
import type { UsageDelta, Workspace, WorkspaceUsage } from '../store/workspaces'
import type { RunLimits, WorkspaceEngine, WorkspaceHandle } from './engine'
import { openEngineSecret, sealEngineSecret } from './engine-secret'
import { workspaceUnavailable } from './errors'
import { encodeParam, toStatementResult, type StatementResult } from './values'

export interface StatementRequest {
  sql: string
  params?: unknown[]
}

export interface WorkspaceLimits {
  statementTimeoutMs: number
  maxRows: number
  maxResultBytes: number
  maxBytes: number
}

const FLUSH_MS = 1000

export class WorkspaceService {
  private readonly pending = new Map<string, UsageDelta>()
  private readonly inFlight = new Map<string, number>()
  /** Workspaces (by id) whose database this process knows exists, with their opened handle. */
  private readonly provisioned = new Map<string, WorkspaceHandle>()
  private readonly provisioning = new Map<string, Promise<WorkspaceHandle>>()
  private readonly flushTimer: NodeJS.Timeout

  constructor(
    private readonly store: Store,
    readonly engine: WorkspaceEngine,
    private readonly config: WorkspaceConfig,
    private readonly sealingSecret: string | undefined
  ) {
    this.flushTimer = setInterval(() => void this.flush().catch(() => undefined), FLUSH_MS)
    this.flushTimer.unref()
  }

  /** An opaque database name and its password, for a new workspace row. */
  newEngineIdentity(): { engineName: string; engineSecret: string } {
    const engineName = `w_${randomBytes(12).toString('hex')}`
    return { engineName, engineSecret: sealEngineSecret(randomBytes(24).toString('base64url'), this.sealingSecret, engineName) }
  }

  get limits(): WorkspaceLimits {
    const { statementTimeoutMs, maxRows, maxResultBytes, maxBytes } = this.config
    return { statementTimeoutMs, maxRows, maxResultBytes, maxBytes }
  }

  private get runLimits(): RunLimits {
    return { ...this.limits, requestTimeoutMs: this.config.requestTimeoutMs }
  }

  /**
   * At sign-up: PostgreSQL creates the workspace's database and role now (a missing privilege
   * shows at once); the embedded engine copies its template on first use instead, so that
   * sign-ups that never run SQL cost no disk.
   */
  async provisionOnSignUp(workspace: Workspace): Promise<void> {
    if (this.engine.kind === 'postgres') await this.provision(workspace)
  }

  /**
   * Creates the workspace's database unless this process already knows it exists; a known
   * workspace's handle is kept, so requests do not unseal its password again.
   */
  async provision(workspace: Workspace): Promise<WorkspaceHandle> {
    const known = this.provisioned.get(workspace.id)
    if (known) return known
    let running = this.provisioning.get(workspace.id)
    if (!running) {
      running = (async () => {
        const handle = await this.handle(workspace)
        await this.engine.provision(handle)
        if (!workspace.provisionedAt) await this.store.workspaces.markProvisioned(workspace.id)
        this.provisioned.set(workspace.id, handle)
        return handle
      })().finally(() => this.provisioning.delete(workspace.id))
      this.provisioning.set(workspace.id, running)
    }
    return running
  }

  /** The engine's view of a workspace; rows from before databases existed get their name now. */
  private async handle(workspace: Workspace): Promise<WorkspaceHandle> {
    let { engineName, engineSecret } = workspace
    if (!engineName || !engineSecret) {
      const fresh = this.newEngineIdentity()
      const row = await this.store.workspaces.assignEngine(workspace.id, fresh.engineName, fresh.engineSecret)
      engineName = row?.engineName ?? null
      engineSecret = row?.engineSecret ?? null
      if (!engineName || !engineSecret) throw new Error(`workspace ${workspace.id} has no database name`)
    }
    return { engineName, engineSecret: openEngineSecret(engineSecret, this.sealingSecret, engineName) }
  }

  /** Usage as stored plus what this instance counted since its last flush. */
  usage(workspace: Workspace): WorkspaceUsage {
    const delta = this.pending.get(workspace.id)
    if (!delta) return workspace.usage
    return {
      statements: workspace.usage.statements + delta.statements,
      rowsRead: workspace.usage.rowsRead + delta.rowsRead,
      rowsWritten: workspace.usage.rowsWritten + delta.rowsWritten,
      bytes: delta.bytes ?? workspace.usage.bytes
    }
  }

  /** Runs statements as the workspace; throws the ApiErrors of ./errors.ts. */
  async run(workspace: Workspace, statements: StatementRequest[], options: { transaction: boolean; readOnly: boolean }): Promise<StatementResult[]> {
    return this.admitted(workspace, async (handle) => {
      const encoded = statements.map((s) => ({ sql: s.sql, params: (s.params ?? []).map(encodeParam) }))
      const overQuota = this.usage(workspace).bytes >= this.config.maxBytes
      let outcome
      try {
        outcome = await this.engine.run(handle, { statements: encoded, transaction: options.transaction, readOnly: options.readOnly, overQuota, limits: this.runLimits })
      } catch (error) {
        // A statement that ran before the failure still counts.
        this.count(workspace.id, { statements: statementIndex(error) ?? 0, rowsRead: 0, rowsWritten: 0 })
        throw error
      }
      const results = outcome.results.map(toStatementResult)
      const answerBytes = Buffer.byteLength(JSON.stringify(results))
      if (answerBytes > this.config.maxResultBytes) {
        throw new ApiError(400, 'result_too_large', `the answer is larger than ${this.config.maxResultBytes} bytes; select fewer rows or columns (LIMIT, WHERE)`)
      }
      this.count(workspace.id, {
        statements: results.length,
        rowsRead: results.reduce((n, r) => n + r.rowsRead, 0),
        rowsWritten: results.reduce((n, r) => n + r.rowsWritten, 0),
        ...(outcome.bytes === undefined ? {} : { bytes: outcome.bytes })
      })
      return results
    })
  }

  async tables(workspace: Workspace): Promise<{ name: string; rowCount: number }[]> {
    return this.admitted(workspace, (handle) => this.engine.tables(handle, this.runLimits))
  }

  /** Disables or enables a workspace; a disabled one's open sessions end now. */
  async setDisabled(namespace: string, disabled: boolean): Promise<Workspace | undefined> {
    const workspace = await this.store.workspaces.setDisabled(namespace, disabled)
    if (workspace && disabled && workspace.engineName) await this.engine.evict({ engineName: workspace.engineName })
    return workspace
  }

  /** At most WORKSPACE_MAX_QUEUE requests of one workspace at once: the rest answer 429. */
  private async admitted<T>(workspace: Workspace, work: (handle: WorkspaceHandle) => Promise<T>): Promise<T> {
    const busy = this.inFlight.get(workspace.id) ?? 0
    if (busy >= this.config.maxQueue) {
      throw new ApiError(429, 'rate_limited', `this workspace already has ${busy} requests in progress; retry shortly`, { 'retry-after': '1' })
    }
    this.inFlight.set(workspace.id, busy + 1)
    try {
      let handle: WorkspaceHandle
      try {
        handle = await this.provision(workspace)
      } catch (error) {
        if (error instanceof ApiError) throw error
        throw workspaceUnavailable('the workspace database cannot be reached right now; retry shortly')
      }
      return await work(handle)
    } finally {
      const left = (this.inFlight.get(workspace.id) ?? 1) - 1
      if (left === 0) this.inFlight.delete(workspace.id)
      else this.inFlight.set(workspace.id, left)
    }
  }

  private count(id: string, delta: Omit<UsageDelta, 'id'>): void {
    const entry = this.pending.get(id) ?? { id, statements: 0, rowsRead: 0, rowsWritten: 0 }
    entry.statements += delta.statements
    entry.rowsRead += delta.rowsRead
    entry.rowsWritten += delta.rowsWritten
    if (delta.bytes !== undefined) entry.bytes = delta.bytes
    this.pending.set(id, entry)
  }

  /** Writes the usage counted since the last flush (kept for the next one when the write fails). */
  async flush(): Promise<void> {
    if (this.pending.size === 0) return
    const deltas = [...this.pending.values()]
    this.pending.clear()
    try {
      await this.store.workspaces.addUsage(deltas)
    } catch (error) {
      for (const delta of deltas) {
        const { id, ...rest } = delta
        this.count(id, rest)
      }
      throw error
    }
  }

  async close(): Promise<void> {
    clearInterval(this.flushTimer)
    await this.flush().catch(() => undefined)
    await this.engine.close()
  }
}

/** How many statements of a failed request ran before the failing one. */
function statementIndex(error: unknown): number | undefined {
  const statement = error instanceof ApiError ? error.fields.statement : undefined
  return typeof statement === 'number' ? statement : undefined
}
