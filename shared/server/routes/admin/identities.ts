/** Identity administration (admin): agents, their credentials and audit, any credential by id, the audit log. */
import type { FastifyPluginAsync } from 'fastify'
import fp from 'fastify-plugin'
import { ApiError } from '../../errors'
import { adminOnly, uuidParam } from '../../http'
import { SERVICES } from '../../services'
import type { Credential, Store } from '../../store/store'
import type { AgentChanges } from '../../store/agents'
import { agentView, auditView, credentialView } from '../../views'
import { parseAllowedScopes, parseExpiresAt, parseOwner } from '../agents/fields'
import { AgentPatchBody } from './schemas'

/** Revokes (first revocation time wins) and audits it; the credential stops working at once. */
async function revokeByAdmin(store: Store, credential: Credential): Promise<Credential> {
  const revoked = (await store.credentials.revoke(credential.id))!
  await store.audit.record({
    action: 'credential.revoke',
    identityId: credential.agentId ?? credential.workspaceId,
    credentialId: credential.id,
    workspaceId: credential.workspaceId,
    repository: credential.repository,
    repositoryId: credential.repositoryId,
    detail: { by: 'admin', kind: credential.kind }
  })
  return revoked
}

const plugin: FastifyPluginAsync = async (app) => {
  const admin = adminOnly(app.config.adminToken)

  app.get<{ Params: { id: string } }>('/api/v1/agents/:id', { onRequest: admin }, async (request) => {
    const agent = await app.store.agents.get(uuidParam(request.params.id, 'agent id'))
    if (!agent) throw new ApiError(404, 'agent_not_found', `no agent ${request.params.id}`)
    return agentView(agent)
  })

  app.patch<{ Params: { id: string }; Body: AgentPatchBody }>('/api/v1/agents/:id', { onRequest: admin, schema: { body: AgentPatchBody } }, async (request) => {
    const id = uuidParam(request.params.id, 'agent id')
    const { owner, allowedScopes, expiresAt } = request.body
    const changes: AgentChanges = {}
    if (owner !== undefined) changes.owner = owner === null ? null : parseOwner(owner)
    if (allowedScopes !== undefined) changes.allowedScopes = allowedScopes === null ? null : parseAllowedScopes(allowedScopes)
    // Any instant, a past one included: the administrator may end an agent now.
    if (expiresAt !== undefined) changes.expiresAt = expiresAt === null ? null : parseExpiresAt(expiresAt)
    const agent = await app.store.agents.update(id, changes)
    if (!agent) throw new ApiError(404, 'agent_not_found', `no agent ${id}`)
    await app.store.audit.record({
      action: 'agent.update',
      identityId: id,
      repository: agent.repository,
      repositoryId: agent.repositoryId,
      detail: { outcome: 'changed', by: 'admin', changed: Object.keys(changes) }
    })
    return agentView(agent)
  })

  // Every live credential at once (a suspected leak); the agent keeps working with fresh tokens.
  app.post<{ Params: { id: string } }>('/api/v1/agents/:id/credentials/rotate', { onRequest: admin }, async (request) => {
    const id = uuidParam(request.params.id, 'agent id')
    const now = app.now()
    const result = await app.store.transaction(async (tx) => {
      const agent = await tx.agents.markRotated(id, now)
      if (!agent) return undefined
      const revoked = await tx.credentials.revokeLiveForAgent(id, now)
      await tx.audit.record({
        action: 'agent.rotate',
        identityId: id,
        repository: agent.repository,
        repositoryId: agent.repositoryId,
        detail: { outcome: 'changed', by: 'admin', revoked }
      })
      return { agent, revoked }
    })
    if (!result) throw new ApiError(404, 'agent_not_found', `no agent ${id}`)
    return { agent: agentView(result.agent), revoked: result.revoked }
  })

  app.get<{ Params: { id: string } }>('/api/v1/agents/:id/credentials', { onRequest: admin }, async (request) => {
    const id = uuidParam(request.params.id, 'agent id')
    if (!(await app.store.agents.get(id))) throw new ApiError(404, 'agent_not_found', `no agent ${id}`)
    const now = app.now()
    return { items: (await app.store.credentials.listForAgent(id)).map((c) => credentialView(c, now)) }
  })

  app.post<{ Params: { id: string; credentialId: string } }>('/api/v1/agents/:id/credentials/:credentialId/revoke', { onRequest: admin }, async (request) => {
    const id = uuidParam(request.params.id, 'agent id')
    const credentialId = uuidParam(request.params.credentialId, 'credential id')
    const credential = await app.store.credentials.get(credentialId)
    if (!credential || credential.agentId !== id) throw new ApiError(404, 'not_found', `agent ${id} has no credential ${credentialId}`)
    return credentialView(await revokeByAdmin(app.store, credential), app.now())
  })

  // Any credential, whatever its kind: a leaked bootstrap or workspace token ends now, not at its expiry.
  app.post<{ Params: { id: string } }>('/api/v1/credentials/:id/revoke', { onRequest: admin }, async (request) => {
    const id = uuidParam(request.params.id, 'credential id')
    const credential = await app.store.credentials.get(id)
    if (!credential) throw new ApiError(404, 'not_found', `no credential ${id}`)
    return credentialView(await revokeByAdmin(app.store, credential), app.now())
  })

  app.post<{ Params: { id: string } }>('/api/v1/agents/:id/disable', { onRequest: admin }, async (request) => {
    const id = uuidParam(request.params.id, 'agent id')
    const agent = await app.store.agents.disable(id)
    if (!agent) throw new ApiError(404, 'agent_not_found', `no agent ${id}`)
    await app.store.audit.record({
      action: 'agent.disable',
      identityId: id,
      repository: agent.repository,
      repositoryId: agent.repositoryId,
      detail: { by: 'admin' }
    })
    return agentView(agent)
  })

  app.get<{ Params: { id: string } }>('/api/v1/agents/:id/audit', { onRequest: admin }, async (request) => {
    const id = uuidParam(request.params.id, 'agent id')
    if (!(await app.store.agents.get(id))) throw new ApiError(404, 'agent_not_found', `no agent ${id}`)
    return { items: (await app.store.audit.forIdentity(id)).map(auditView) }
  })

  // All recent events, denials without an identity included (operators debugging a policy).
  app.get('/api/v1/audit', { onRequest: admin }, async () => {
    return { items: (await app.store.audit.recent()).map(auditView) }
  })
}

export const identityRoutes = fp(plugin, { name: 'federate-identity-routes', fastify: '5.x', dependencies: [SERVICES] })
