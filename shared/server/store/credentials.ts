/**
 * Issued credentials (table credentials): one row per token, holding its id (the JWT's jti)
 * or the SHA-256 of an opaque token, never the token itself.
 */
import { randomUUID } from 'node:crypto'
import type { AuditInput } from './audit'
import { insertCredentials, type CredentialBatcher, type CredentialWrite } from './credential-batch'
import { toDate, toMaybeDate, type Timestamp } from './columns'
import type { Queryable } from './db'

export type CredentialKind = 'bootstrap' | 'agent' | 'workspace'

export interface Credential {
  id: string
  kind: CredentialKind
  /** The OIDC issuer of the token it was exchanged for. */
  issuer: string
  agentId: string | null
  workspaceId: string | null
  scope: string
  repository: string
  repositoryId: string
  createdAt: Date
  expiresAt: Date
  lastUsedAt: Date | null
  revokedAt: Date | null
}

export interface NewCredential {
  id?: string
  kind: CredentialKind
  issuer: string
  agentId?: string
  workspaceId?: string
  scope: string
  repository: string
  repositoryId: string
  tokenSha256?: string
  expiresAt: Date
}

interface Columns {
  id: string
  kind: CredentialKind
  issuer: string
  agent_id: string | null
  workspace_id: string | null
  scope: string
  repository: string
  repository_id: string
  created_at: Timestamp
  expires_at: Timestamp
  last_used_at: Timestamp | null
  revoked_at: Timestamp | null
}

function toCredential(r: Columns): Credential {
  return {
    id: r.id,
    kind: r.kind,
    issuer: r.issuer,
    agentId: r.agent_id ?? null,
    workspaceId: r.workspace_id ?? null,
    scope: r.scope,
    repository: r.repository,
    repositoryId: r.repository_id,
    createdAt: toDate(r.created_at),
    expiresAt: toDate(r.expires_at),
    lastUsedAt: toMaybeDate(r.last_used_at),
    revokedAt: toMaybeDate(r.revoked_at)
  }
}

export class CredentialRepository {
  constructor(
    private readonly db: Queryable,
    private readonly now: () => Date,
    /** Group commit of concurrent writes; absent inside a transaction (its rows join it). */
    private readonly batcher?: CredentialBatcher
  ) {}

  async create(input: NewCredential): Promise<Credential> {
    const { rows } = await this.db.query<Columns>(
      `INSERT INTO credentials (id, kind, agent_id, workspace_id, scope, repository, repository_id, token_sha256,
         created_at, expires_at, issuer)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING *`,
      [
        input.id ?? randomUUID(),
        input.kind,
        input.agentId ?? null,
        input.workspaceId ?? null,
        input.scope,
        input.repository,
        input.repositoryId,
        input.tokenSha256 ?? null,
        this.now(),
        input.expiresAt,
        input.issuer
      ]
    )
    return toCredential(rows[0]!)
  }

  /**
   * The credential row, its audit event (credentialId = the new row's id) and, when
   * `touchAgentId` is set, that agent's last_used_at, in ONE statement: atomic by itself (no
   * credential without its audit event, even after a crash). Outside a transaction,
   * concurrent calls share that statement (credential-batch.ts); inside one, it joins it.
   */
  async createWithAudit(input: NewCredential, event: Omit<AuditInput, 'credentialId'>, touchAgentId?: string): Promise<Credential> {
    const write: CredentialWrite = {
      credential: {
        id: input.id ?? randomUUID(),
        kind: input.kind,
        issuer: input.issuer,
        agentId: input.agentId ?? null,
        workspaceId: input.workspaceId ?? null,
        scope: input.scope,
        repository: input.repository,
        repositoryId: input.repositoryId,
        tokenSha256: input.tokenSha256 ?? null,
        createdAt: this.now(),
        expiresAt: input.expiresAt
      },
      audit: {
        id: randomUUID(),
        action: event.action,
        identityId: event.identityId ?? null,
        workspaceId: event.workspaceId ?? null,
        repository: event.repository ?? null,
        repositoryId: event.repositoryId ?? null,
        detail: event.detail ?? {}
      },
      touchAgentId: touchAgentId ?? null
    }
    await (this.batcher ? this.batcher.write(write) : insertCredentials(this.db, [write]))
    const { tokenSha256: _hash, ...credential } = write.credential
    return { ...credential, kind: input.kind, lastUsedAt: null, revokedAt: null }
  }

  async get(id: string): Promise<Credential | undefined> {
    const { rows } = await this.db.query<Columns>('SELECT * FROM credentials WHERE id = $1', [id])
    return rows[0] ? toCredential(rows[0]) : undefined
  }

  async byHash(tokenSha256: string): Promise<Credential | undefined> {
    const { rows } = await this.db.query<Columns>('SELECT * FROM credentials WHERE token_sha256 = $1', [tokenSha256])
    return rows[0] ? toCredential(rows[0]) : undefined
  }

  /** An agent's credentials, newest first (the last 500). */
  async listForAgent(agentId: string): Promise<Credential[]> {
    const { rows } = await this.db.query<Columns>('SELECT * FROM credentials WHERE agent_id = $1 ORDER BY seq DESC LIMIT 500', [agentId])
    return rows.map(toCredential)
  }

  /** Marks the credential revoked (first revocation time wins); undefined when unknown. */
  async revoke(id: string): Promise<Credential | undefined> {
    const { rows } = await this.db.query<Columns>('UPDATE credentials SET revoked_at = COALESCE(revoked_at, $2) WHERE id = $1 RETURNING *', [id, this.now()])
    return rows[0] ? toCredential(rows[0]) : undefined
  }

  /** Revokes every live (unrevoked, unexpired) credential of the agent at `at`; returns how many. */
  async revokeLiveForAgent(agentId: string, at: Date): Promise<number> {
    const { rowCount } = await this.db.query('UPDATE credentials SET revoked_at = $2 WHERE agent_id = $1 AND revoked_at IS NULL AND expires_at > $2', [agentId, at])
    return rowCount
  }

  async touch(id: string): Promise<void> {
    await this.db.query('UPDATE credentials SET last_used_at = $2 WHERE id = $1', [id, this.now()])
  }

  /** Retention: deletes credentials that expired before `before` (long unusable); returns how many. */
  async deleteExpiredBefore(before: Date): Promise<number> {
    return (await this.db.query('DELETE FROM credentials WHERE expires_at < $1', [before])).rowCount
  }
}
