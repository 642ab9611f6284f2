/** Trust policies (table trust_policies). */
import { randomUUID } from 'node:crypto'
import type { TrustPolicy } from '../oidc/policy'
import { fromJson, toDate, type Timestamp } from './columns'
import type { Queryable } from './db'

/** A trust policy row is exactly what the policy module decides on. */
export type StoredPolicy = TrustPolicy
export type NewPolicy = Omit<StoredPolicy, 'id' | 'createdAt'>

export interface PolicyColumns {
  id: string
  provider: 'github'
  issuer: string
  repository: string
  repository_id: string | null
  repository_owner_id: string | null
  branch: string | null
  environment: string | null
  workflow_ref: string | null
  agent_id: string | null
  events: unknown
  scopes: unknown
  audiences: unknown
  max_ttl: number | null
  created_at: Timestamp
}

export function toPolicy(r: PolicyColumns): StoredPolicy {
  const policy: StoredPolicy = {
    id: r.id,
    provider: r.provider,
    issuer: r.issuer,
    repository: r.repository,
    createdAt: toDate(r.created_at).toISOString()
  }
  if (r.repository_id !== null) policy.repositoryId = r.repository_id
  if (r.repository_owner_id !== null) policy.repositoryOwnerId = r.repository_owner_id
  if (r.branch !== null) policy.branch = r.branch
  if (r.environment !== null) policy.environment = r.environment
  if (r.workflow_ref !== null) policy.workflowRef = r.workflow_ref
  if (r.agent_id !== null) policy.agentId = r.agent_id
  if (r.events !== null) policy.events = fromJson<string[]>(r.events)
  // Absent (undefined) in rows read before migration 8 ran on another instance.
  if (r.scopes !== null && r.scopes !== undefined) policy.scopes = fromJson<string[]>(r.scopes)
  if (r.audiences !== null && r.audiences !== undefined) policy.audiences = fromJson<string[]>(r.audiences)
  if (r.max_ttl !== null && r.max_ttl !== undefined) policy.maxTtl = Number(r.max_ttl)
  return policy
}

export class PolicyRepository {
  constructor(
    private readonly db: Queryable,
    private readonly now: () => Date,
    /** Called after every write (the exchange cache must forget what it read). */
    private readonly changed: () => void
  ) {}

  async create(input: NewPolicy): Promise<StoredPolicy> {
    const { rows } = await this.db.query<PolicyColumns>(
      `INSERT INTO trust_policies (id, provider, repository, repository_id, repository_owner_id, branch, environment,
         workflow_ref, agent_id, events, created_at, issuer, scopes, audiences, max_ttl)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15) RETURNING *`,
      [
        randomUUID(),
        input.provider,
        input.repository,
        input.repositoryId ?? null,
        input.repositoryOwnerId ?? null,
        input.branch ?? null,
        input.environment ?? null,
        input.workflowRef ?? null,
        input.agentId ?? null,
        input.events ? JSON.stringify(input.events) : null,
        this.now(),
        input.issuer,
        input.scopes ? JSON.stringify(input.scopes) : null,
        input.audiences ? JSON.stringify(input.audiences) : null,
        input.maxTtl ?? null
      ]
    )
    this.changed()
    return toPolicy(rows[0]!)
  }

  async list(): Promise<StoredPolicy[]> {
    const { rows } = await this.db.query<PolicyColumns>('SELECT * FROM trust_policies ORDER BY created_at, id')
    return rows.map(toPolicy)
  }

  /**
   * The policies `decide()` can use for a token of this repository: every policy it could
   * allow, name as closest, or list in a denial hint is either for this name
   * (case-insensitively, as policy.ts compares) or pins this repository_id (a pinned
   * policy follows a rename), and belongs to the token's issuer: a policy of another issuer
   * never concerns it, whatever the repository name or id. (The exchange reads these with
   * the agent in one statement: exchange-inputs.ts.)
   */
  async concerning(issuer: string, repository: string, repositoryId: string): Promise<StoredPolicy[]> {
    const { rows } = await this.db.query<PolicyColumns>(
      'SELECT * FROM trust_policies WHERE issuer = $3 AND (lower(repository) = lower($1) OR repository_id = $2) ORDER BY created_at, id',
      [repository, repositoryId, issuer]
    )
    return rows.map(toPolicy)
  }

  async delete(id: string): Promise<boolean> {
    const { rowCount } = await this.db.query('DELETE FROM trust_policies WHERE id = $1', [id])
    this.changed()
    return rowCount > 0
  }
}
