/** Agents: machine identities (table agents). */
import { randomUUID } from 'node:crypto'
import { toDate, toMaybeDate, type Timestamp } from './columns'
import type { Queryable } from './db'

export type AgentStatus = 'active' | 'disabled'

export interface Agent {
  id: string
  /** The OIDC issuer of the repository that registered it. */
  issuer: string
  name: string
  description: string
  repository: string
  repositoryId: string
  status: AgentStatus
  createdAt: Date
  lastUsedAt: Date | null
}

export interface NewAgent {
  issuer: string
  name: string
  description: string
  repository: string
  repositoryId: string
}

export interface AgentColumns {
  id: string
  issuer: string
  name: string
  description: string
  repository: string
  repository_id: string
  status: AgentStatus
  created_at: Timestamp
  last_used_at: Timestamp | null
}

export function toAgent(r: AgentColumns): Agent {
  return {
    id: r.id,
    issuer: r.issuer,
    name: r.name,
    description: r.description,
    repository: r.repository,
    repositoryId: r.repository_id,
    status: r.status,
    createdAt: toDate(r.created_at),
    lastUsedAt: toMaybeDate(r.last_used_at)
  }
}

export class AgentRepository {
  constructor(
    private readonly db: Queryable,
    private readonly now: () => Date,
    /** Called after every write (the exchange cache must forget what it read). */
    private readonly changed: () => void
  ) {}

  async get(id: string): Promise<Agent | undefined> {
    const { rows } = await this.db.query<AgentColumns>('SELECT * FROM agents WHERE id = $1', [id])
    return rows[0] ? toAgent(rows[0]) : undefined
  }

  /**
   * Creates the agent unless the name is taken, whatever its case; race-free: exactly one
   * concurrent caller gets `created: true`, the others read the winner's row.
   */
  async register(input: NewAgent): Promise<{ agent: Agent; created: boolean }> {
    const inserted = await this.db.query<AgentColumns>(
      `INSERT INTO agents (id, name, description, repository, repository_id, status, created_at, issuer)
       VALUES ($1, $2, $3, $4, $5, 'active', $6, $7) ON CONFLICT ((lower(name))) DO NOTHING RETURNING *`,
      [randomUUID(), input.name, input.description, input.repository, input.repositoryId, this.now(), input.issuer]
    )
    this.changed()
    if (inserted.rows[0]) return { agent: toAgent(inserted.rows[0]), created: true }
    const { rows } = await this.db.query<AgentColumns>('SELECT * FROM agents WHERE lower(name) = lower($1)', [input.name])
    return { agent: toAgent(rows[0]!), created: false }
  }

  /** How many agents a repository (of one issuer) owns, disabled ones included. */
  async countOwnedBy(issuer: string, repositoryId: string): Promise<number> {
    const { rows } = await this.db.query<{ n: number }>('SELECT count(*)::int AS n FROM agents WHERE issuer = $1 AND repository_id = $2', [issuer, repositoryId])
    return Number(rows[0]!.n)
  }

  /** Keeps the shown owner name current after a repository rename. */
  async rename(id: string, repository: string): Promise<void> {
    await this.db.query('UPDATE agents SET repository = $2 WHERE id = $1 AND repository <> $2', [id, repository])
    this.changed()
  }

  async disable(id: string): Promise<Agent | undefined> {
    const { rows } = await this.db.query<AgentColumns>(`UPDATE agents SET status = 'disabled', disabled_at = COALESCE(disabled_at, $2) WHERE id = $1 RETURNING *`, [
      id,
      this.now()
    ])
    this.changed()
    return rows[0] ? toAgent(rows[0]) : undefined
  }
}
