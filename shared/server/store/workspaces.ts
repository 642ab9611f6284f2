/** Workspaces: one per repository of one issuer (table workspaces). */
import { randomUUID } from 'node:crypto'
import { toDate, toMaybeDate, type Timestamp } from './columns'
import type { Queryable } from './db'

export interface WorkspaceUsage {
  statements: number
  rowsRead: number
  rowsWritten: number
  bytes: number
}

export interface Workspace {
  id: string
  issuer: string
  repositoryId: string
  repository: string
  namespace: string
  database: string
  createdAt: Date
  /** The opaque name of its database (workspaces/engine.ts); null only on rows from before databases existed. */
  engineName: string | null
  /** As stored: the role's password, or its sealed form (workspaces/engine-secret.ts). */
  engineSecret: string | null
  provisionedAt: Date | null
  disabledAt: Date | null
  lastUsedAt: Date | null
  usage: WorkspaceUsage
}

interface Columns {
  id: string
  issuer: string
  repository_id: string
  repository: string
  namespace: string
  database_name: string
  created_at: Timestamp
  last_used_at: Timestamp | null
  engine_name: string | null
  engine_secret: string | null
  provisioned_at: Timestamp | null
  disabled_at: Timestamp | null
  usage_statements: string | number
  usage_rows_read: string | number
  usage_rows_written: string | number
  usage_bytes: string | number
}

function toWorkspace(r: Columns): Workspace {
  return {
    id: r.id,
    issuer: r.issuer,
    repositoryId: r.repository_id,
    repository: r.repository,
    namespace: r.namespace,
    database: r.database_name,
    createdAt: toDate(r.created_at),
    engineName: r.engine_name,
    engineSecret: r.engine_secret,
    provisionedAt: toMaybeDate(r.provisioned_at),
    disabledAt: toMaybeDate(r.disabled_at),
    lastUsedAt: toMaybeDate(r.last_used_at),
    usage: {
      statements: Number(r.usage_statements),
      rowsRead: Number(r.usage_rows_read),
      rowsWritten: Number(r.usage_rows_written),
      bytes: Number(r.usage_bytes)
    }
  }
}

/** Usage one instance counted since its last flush (added, so several instances can count at once). */
export interface UsageDelta {
  id: string
  statements: number
  rowsRead: number
  rowsWritten: number
  /** The size measured last, when one was. */
  bytes?: number
}

export class WorkspaceRepository {
  constructor(
    private readonly db: Queryable,
    private readonly now: () => Date
  ) {}

  /**
   * One workspace per (issuer, repository_id), race-free: INSERT ... ON CONFLICT DO NOTHING,
   * then read the row. Exactly one concurrent first caller sees `created: true`. A rename
   * only updates the shown name.
   */
  async federate(input: {
    issuer: string
    repositoryId: string
    repository: string
    namespace: string
    database: string
    /** The new workspace's opaque database name and password (kept when the workspace exists). */
    engineName: string
    engineSecret: string
  }): Promise<{ workspace: Workspace; created: boolean }> {
    for (let attempt = 0; attempt < 5; attempt++) {
      // No conflict target: a clash on (issuer, repository_id) or on namespace both mean "do
      // nothing", whichever unique index PostgreSQL happens to check first under concurrency.
      const namespace = attempt === 0 ? input.namespace : `${input.namespace}-${randomUUID().slice(0, 4)}`
      const inserted = await this.db.query<Columns>(
        `INSERT INTO workspaces (id, repository_id, repository, namespace, database_name, created_at, last_used_at, issuer, engine_name, engine_secret)
         VALUES ($1, $2, $3, $4, $5, $6, $6, $7, $8, $9) ON CONFLICT DO NOTHING RETURNING *`,
        [randomUUID(), input.repositoryId, input.repository, namespace, input.database, this.now(), input.issuer, input.engineName, input.engineSecret]
      )
      if (inserted.rows[0]) return { workspace: toWorkspace(inserted.rows[0]), created: true }
      const { rows } = await this.db.query<Columns>('UPDATE workspaces SET repository = $2, last_used_at = $3 WHERE repository_id = $1 AND issuer = $4 RETURNING *', [
        input.repositoryId,
        input.repository,
        this.now(),
        input.issuer
      ])
      if (rows[0]) return { workspace: toWorkspace(rows[0]), created: false }
      // The namespace belongs to another repository (a renamed one): try a suffixed one.
    }
    throw new Error('could not allocate a workspace namespace')
  }

  async get(id: string): Promise<Workspace | undefined> {
    const { rows } = await this.db.query<Columns>('SELECT * FROM workspaces WHERE id = $1', [id])
    return rows[0] ? toWorkspace(rows[0]) : undefined
  }

  async byNamespace(namespace: string): Promise<Workspace | undefined> {
    const { rows } = await this.db.query<Columns>('SELECT * FROM workspaces WHERE namespace = $1', [namespace])
    return rows[0] ? toWorkspace(rows[0]) : undefined
  }

  /** Newest first, at most `limit`. */
  async list(limit: number): Promise<Workspace[]> {
    const { rows } = await this.db.query<Columns>('SELECT * FROM workspaces ORDER BY created_at DESC, id LIMIT $1', [limit])
    return rows.map(toWorkspace)
  }

  /**
   * Gives a workspace from before databases existed its engine name and secret, once: the
   * first caller's pair wins on every instance. Answers the row as it is afterwards.
   */
  async assignEngine(id: string, engineName: string, engineSecret: string): Promise<Workspace | undefined> {
    await this.db.query('UPDATE workspaces SET engine_name = $2, engine_secret = $3 WHERE id = $1 AND engine_name IS NULL', [id, engineName, engineSecret])
    return this.get(id)
  }

  async markProvisioned(id: string): Promise<void> {
    await this.db.query('UPDATE workspaces SET provisioned_at = $2 WHERE id = $1 AND provisioned_at IS NULL', [id, this.now()])
  }

  /** Disables (true) or enables (false); answers the row, undefined when there is none. */
  async setDisabled(namespace: string, disabled: boolean): Promise<Workspace | undefined> {
    const { rows } = await this.db.query<Columns>('UPDATE workspaces SET disabled_at = $2 WHERE namespace = $1 RETURNING *', [namespace, disabled ? this.now() : null])
    return rows[0] ? toWorkspace(rows[0]) : undefined
  }

  /** Adds counted usage, one statement for any number of workspaces. */
  async addUsage(deltas: UsageDelta[]): Promise<void> {
    if (deltas.length === 0) return
    await this.db.query(
      `UPDATE workspaces w SET
         usage_statements = w.usage_statements + d.statements,
         usage_rows_read = w.usage_rows_read + d.rows_read,
         usage_rows_written = w.usage_rows_written + d.rows_written,
         usage_bytes = COALESCE(d.bytes, w.usage_bytes),
         last_used_at = $6
       FROM (SELECT * FROM unnest($1::uuid[], $2::bigint[], $3::bigint[], $4::bigint[], $5::bigint[]) AS t(id, statements, rows_read, rows_written, bytes)) d
       WHERE w.id = d.id`,
      [
        deltas.map((d) => d.id),
        deltas.map((d) => d.statements),
        deltas.map((d) => d.rowsRead),
        deltas.map((d) => d.rowsWritten),
        deltas.map((d) => d.bytes ?? null),
        this.now()
      ]
    )
  }
}
