/** How stored rows look on the wire (camelCase, ISO 8601 times, never a secret). */
import type { Agent, AuditEvent, Credential, Workspace } from './store/store'
import type { WorkspaceUsage } from './store/workspaces'
import type { WorkspaceLimits } from './workspaces/service'

const iso = (d: Date | null): string | null => (d ? d.toISOString() : null)

export function agentView(agent: Agent): Record<string, unknown> {
  return {
    agentId: agent.id,
    name: agent.name,
    description: agent.description,
    repository: agent.repository,
    repositoryId: agent.repositoryId,
    status: agent.status,
    createdAt: iso(agent.createdAt),
    lastUsedAt: iso(agent.lastUsedAt),
    owner: agent.owner,
    allowedScopes: agent.allowedScopes,
    expiresAt: iso(agent.expiresAt),
    lastRotatedAt: iso(agent.lastRotatedAt)
  }
}

export function credentialView(credential: Credential, now: Date): Record<string, unknown> {
  const status = credential.revokedAt ? 'revoked' : credential.expiresAt <= now ? 'expired' : 'active'
  return {
    id: credential.id,
    kind: credential.kind,
    scope: credential.scope,
    status,
    agentId: credential.agentId,
    workspaceId: credential.workspaceId,
    repository: credential.repository,
    createdAt: iso(credential.createdAt),
    expiresAt: iso(credential.expiresAt),
    lastUsedAt: iso(credential.lastUsedAt),
    revokedAt: iso(credential.revokedAt)
  }
}

export function auditView(event: AuditEvent): Record<string, unknown> {
  return {
    id: event.id,
    at: iso(event.at),
    action: event.action,
    identityId: event.identityId,
    credentialId: event.credentialId,
    repository: event.repository,
    detail: event.detail
  }
}

/** A workspace as the admin sees it; its database's internal name and password stay inside. */
export function workspaceView(workspace: Workspace, usage: WorkspaceUsage, limits: WorkspaceLimits): Record<string, unknown> {
  return {
    namespace: workspace.namespace,
    database: workspace.database,
    identity: workspace.repository,
    issuer: workspace.issuer,
    createdAt: iso(workspace.createdAt),
    lastUsedAt: iso(workspace.lastUsedAt),
    disabled: workspace.disabledAt !== null,
    disabledAt: iso(workspace.disabledAt),
    usage: { statements: usage.statements, rowsRead: usage.rowsRead, rowsWritten: usage.rowsWritten, bytes: usage.bytes },
    limits: { statementTimeoutMs: limits.statementTimeoutMs, maxRows: limits.maxRows, maxResultBytes: limits.maxResultBytes, maxBytes: limits.maxBytes }
  }
}
