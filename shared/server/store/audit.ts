/** The audit log (table audit_events). Every decision of the server is one event. */
import { randomUUID } from 'node:crypto'
import { fromJson, toDate, type Timestamp } from './columns'
import type { Queryable } from './db'

/** What happened; the detail's `outcome` says how it ended (issued, denied, created, ...). */
export type AuditAction =
  | 'token.exchange'
  | 'policy.explain'
  | 'agent.register'
  | 'agent.disable'
  | 'agent.update'
  | 'agent.rotate'
  | 'workspace.federate'
  | 'workspace.disable'
  | 'workspace.enable'
  | 'credential.revoke'
  | 'policy.create'
  | 'policy.delete'
  | 'signing_key.rotate'
  | 'oauth_client.create'
  | 'oauth_client.delete'

export interface AuditEvent {
  id: string
  at: Date
  action: AuditAction
  identityId: string | null
  credentialId: string | null
  workspaceId: string | null
  repository: string | null
  repositoryId: string | null
  detail: Record<string, unknown>
}

/** An audit event to record; id and time are the repository's. */
export interface AuditInput {
  action: AuditAction
  identityId?: string | null
  credentialId?: string | null
  workspaceId?: string | null
  repository?: string | null
  repositoryId?: string | null
  detail?: Record<string, unknown>
}

/** How a decision ended, the first field of every event's detail. */
export type AuditOutcome = 'issued' | 'denied' | 'created' | 'existing' | 'allowed' | 'changed' | 'unchanged'

/** The detail of a refusal: its outcome, code and (when known) reason, then what else helps an operator. */
export function denied<Extra extends Record<string, unknown>>(
  code: string,
  reason?: string,
  extra: Extra = {} as Extra
): { outcome: 'denied'; code: string; reason?: string } & Extra {
  return { outcome: 'denied', code, ...(reason === undefined ? {} : { reason }), ...extra }
}

/** The detail of a successful decision. */
export function succeeded(outcome: Exclude<AuditOutcome, 'denied'>, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { outcome, ...extra }
}

interface Columns {
  id: string
  at: Timestamp
  action: AuditAction
  identity_id: string | null
  credential_id: string | null
  workspace_id: string | null
  repository: string | null
  repository_id: string | null
  detail: unknown
}

function toEvent(r: Columns): AuditEvent {
  return {
    id: r.id,
    at: toDate(r.at),
    action: r.action,
    identityId: r.identity_id ?? null,
    credentialId: r.credential_id ?? null,
    workspaceId: r.workspace_id ?? null,
    repository: r.repository ?? null,
    repositoryId: r.repository_id ?? null,
    detail: fromJson<Record<string, unknown>>(r.detail)
  }
}

/** The audit view's size: the newest events only. */
const VIEW_LIMIT = 500

export class AuditRepository {
  constructor(
    private readonly db: Queryable,
    private readonly now: () => Date
  ) {}

  async record(event: AuditInput): Promise<void> {
    await this.db.query(
      `INSERT INTO audit_events (id, at, action, identity_id, credential_id, workspace_id, repository, repository_id, detail)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
      [
        randomUUID(),
        this.now(),
        event.action,
        event.identityId ?? null,
        event.credentialId ?? null,
        event.workspaceId ?? null,
        event.repository ?? null,
        event.repositoryId ?? null,
        JSON.stringify(event.detail ?? {})
      ]
    )
  }

  async forIdentity(identityId: string, limit = VIEW_LIMIT): Promise<AuditEvent[]> {
    const { rows } = await this.db.query<Columns>('SELECT * FROM audit_events WHERE identity_id = $1 ORDER BY seq DESC LIMIT $2', [identityId, limit])
    return rows.map(toEvent)
  }

  async recent(limit = VIEW_LIMIT): Promise<AuditEvent[]> {
    const { rows } = await this.db.query<Columns>('SELECT * FROM audit_events ORDER BY seq DESC LIMIT $1', [limit])
    return rows.map(toEvent)
  }

  /** Retention: deletes the events recorded before `before`; returns how many. */
  async deleteBefore(before: Date): Promise<number> {
    return (await this.db.query('DELETE FROM audit_events WHERE at < $1', [before])).rowCount
  }
}
