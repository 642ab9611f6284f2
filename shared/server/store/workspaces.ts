/** Workspaces: one per repository of one issuer (table workspaces). */
import { randomUUID } from 'node:crypto'
import { toDate, type Timestamp } from './columns'
import type { Queryable } from './db'

export interface Workspace {
  id: string
  issuer: string
  repositoryId: string
  repository: string
  namespace: string
  database: string
  createdAt: Date
}

interface Columns {
  id: string
  issuer: string
  repository_id: string
  repository: string
  namespace: string
  database_name: string
  created_at: Timestamp
}

function toWorkspace(r: Columns): Workspace {
  return {
    id: r.id,
    issuer: r.issuer,
    repositoryId: r.repository_id,
    repository: r.repository,
    namespace: r.namespace,
    database: r.database_name,
    createdAt: toDate(r.created_at)
  }
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
  }): Promise<{ workspace: Workspace; created: boolean }> {
    for (let attempt = 0; attempt < 5; attempt++) {
      // No conflict target: a clash on (issuer, repository_id) or on namespace both mean "do
      // nothing", whichever unique index PostgreSQL happens to check first under concurrency.
      const namespace = attempt === 0 ? input.namespace : `${input.namespace}-${randomUUID().slice(0, 4)}`
      const inserted = await this.db.query<Columns>(
        `INSERT INTO workspaces (id, repository_id, repository, namespace, database_name, created_at, last_used_at, issuer)
         VALUES ($1, $2, $3, $4, $5, $6, $6, $7) ON CONFLICT DO NOTHING RETURNING *`,
        [randomUUID(), input.repositoryId, input.repository, namespace, input.database, this.now(), input.issuer]
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
}
