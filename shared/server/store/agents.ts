/** Agents: machine identities (table agents). */
import { randomUUID } from 'node:crypto'
import { fromJson, toDate, toMaybeDate, type Timestamp } from './columns'
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
  /** Who answers for the agent (free text). */
  owner: string | null
  /** A cap over the scopes of every policy naming the agent; null: no cap. */
  allowedScopes: string[] | null
  /** From this instant the agent gets no more tokens. */
  expiresAt: Date | null
  /** When its credentials were last revoked all at once. */
  lastRotatedAt: Date | null
}

/** What an admin may change on an agent; null clears, undefined keeps. */
export interface AgentChanges {
  owner?: string | null
  allowedScopes?: string[] | null
  expiresAt?: Date | null
}

export interface NewAgent {
  issuer: string
  name: string
  description: string
  repository: string
  repositoryId: string
  owner?: string
  allowedScopes?: string[]
  expiresAt?: Date
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
  owner?: string | null
  allowed_scopes?: unknown
  expires_at?: Timestamp | null
  last_rotated_at?: Timestamp | null
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
    lastUsedAt: toMaybeDate(r.last_used_at),
    owner: r.owner ?? null,
    allowedScopes: r.allowed_scopes === null || r.allowed_scopes === undefined ? null : fromJson<string[]>(r.allowed_scopes),
    expiresAt: toMaybeDate(r.expires_at),
    lastRotatedAt: toMaybeDate(r.last_rotated_at)
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
      `INSERT INTO agents (id, name, description, repository, repository_id, status, created_at, issuer, owner, allowed_scopes, expires_at)
       VALUES ($1, $2, $3, $4, $5, 'active', $6, $7, $8, $9, $10) ON CONFLICT ((lower(name))) DO NOTHING RETURNING *`,
      [
        randomUUID(),
        input.name,
        input.description,
        input.repository,
        input.repositoryId,
        this.now(),
        input.issuer,
        input.owner ?? null,
        input.allowedScopes ? JSON.stringify(input.allowedScopes) : null,
        input.expiresAt ?? null
      ]
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

  /** Changes owner, allowedScopes and expiresAt (those given); undefined when unknown. */
  async update(id: string, changes: AgentChanges): Promise<Agent | undefined> {
    const sets: string[] = []
    const values: unknown[] = [id]
    const set = (column: string, value: unknown): void => {
      values.push(value)
      sets.push(`${column} = $${values.length}`)
    }
    if (changes.owner !== undefined) set('owner', changes.owner)
    if (changes.allowedScopes !== undefined) set('allowed_scopes', changes.allowedScopes === null ? null : JSON.stringify(changes.allowedScopes))
    if (changes.expiresAt !== undefined) set('expires_at', changes.expiresAt)
    if (sets.length === 0) return this.get(id)
    const { rows } = await this.db.query<AgentColumns>(`UPDATE agents SET ${sets.join(', ')} WHERE id = $1 RETURNING *`, values)
    this.changed()
    return rows[0] ? toAgent(rows[0]) : undefined
  }

  /** Notes a rotation (every live credential revoked at `at`). */
  async markRotated(id: string, at: Date): Promise<Agent | undefined> {
    const { rows } = await this.db.query<AgentColumns>('UPDATE agents SET last_rotated_at = $2 WHERE id = $1 RETURNING *', [id, at])
    this.changed()
    return rows[0] ? toAgent(rows[0]) : undefined
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
