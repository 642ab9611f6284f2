/** Protocol B: self sign-up (federate) and the workspace endpoint its token opens. */
import { createHash } from 'node:crypto'
import type { FastifyPluginAsync } from 'fastify'
import fp from 'fastify-plugin'
import { ApiError, unauthorized } from '../../errors'
import { bearerToken } from '../../http'
import { noteEvent, noteIdentity } from '../../request-facts'
import { SERVICES } from '../../services'
import { denied } from '../../store/store'
import { federateDecision } from '../../trust'
import { rateLimit, verifyOidc } from '../exchange/verify'
import type { Federated, WorkspaceInfo } from './schemas'

const DATABASE = 'main'

/**
 * Readable and stable: `acme-widgets-1a2b3c4d` (slug of the first name + hash of the issuer
 * and the immutable id: two issuers may number their repositories alike).
 */
export function namespaceFor(issuer: string, repository: string, repositoryId: string): string {
  const slug =
    repository
      .toLowerCase()
      .replace(/[^a-z0-9]+/g, '-')
      .replace(/^-+|-+$/g, '')
      .slice(0, 40)
      .replace(/-+$/, '') || 'repo'
  const suffix = createHash('sha256').update(`${issuer}\n${repositoryId}`).digest('hex').slice(0, 8)
  return `${slug}-${suffix}`
}

const plugin: FastifyPluginAsync = async (app) => {
  const { store, config, tokens } = app

  app.post('/v1/identity/federate', async (request, reply) => {
    const token = bearerToken(request)
    if (!token) throw unauthorized('missing "Authorization: Bearer <GitHub OIDC token>"')
    const { claims, tokenSha256 } = await verifyOidc(app, token, config.federateAudience, 'workspace.federate')
    noteIdentity(request, `repo:${claims.repository}`)
    await rateLimit(app, claims, 'workspace.federate', tokenSha256)
    const base = { repository: claims.repository, repositoryId: claims.repository_id }
    const decision = federateDecision(claims, config.federateEvents)
    if (!decision.allowed) {
      await store.audit.record({
        action: 'workspace.federate',
        ...base,
        detail: denied(decision.code, decision.reason, { tokenSha256, eventName: claims.event_name })
      })
      throw new ApiError(403, decision.code, decision.reason)
    }
    // One transaction: a crash never leaves a workspace without its token and audit event.
    const { workspace, created, issued } = await store.transaction(async (tx) => {
      const { workspace, created } = await tx.workspaces.federate({
        ...base,
        issuer: claims.iss,
        namespace: namespaceFor(claims.iss, claims.repository, claims.repository_id),
        database: DATABASE
      })
      // The token's credential row and the audit event in one statement (one round trip less).
      const issued = await tokens.withStore(tx).issueWorkspaceToken(workspace, config.workspaceTokenTtlSeconds, () => ({
        action: 'workspace.federate',
        identityId: workspace.id,
        workspaceId: workspace.id,
        ...base,
        detail: { outcome: created ? 'created' : 'existing', namespace: workspace.namespace, tokenSha256, ref: claims.ref, eventName: claims.event_name }
      }))
      return { workspace, created, issued }
    })
    reply.header('cache-control', 'no-store')
    noteEvent(request, { metric: 'federation', created })
    const answer: Federated = {
      success: true,
      data: {
        token: issued.token,
        url: `${app.publicUrl()}/v1/db/${workspace.namespace}/${workspace.database}`,
        namespace: workspace.namespace,
        database: workspace.database,
        identity: workspace.repository,
        created,
        expiresAt: issued.expiresAt.toISOString()
      }
    }
    return reply.code(created ? 201 : 200).send(answer)
  })

  app.get<{ Params: { namespace: string; database: string }; Reply: WorkspaceInfo }>('/v1/db/:namespace/:database', async (request) => {
    const token = bearerToken(request)
    if (!token) throw unauthorized('missing "Authorization: Bearer <workspace token>"')
    // A refused token (TokenRejected) is a 401 (errors.ts).
    const { workspace } = await tokens.authenticateWorkspaceToken(token)
    if (workspace.namespace !== request.params.namespace) {
      throw new ApiError(403, 'forbidden', 'this token belongs to another workspace')
    }
    if (workspace.database !== request.params.database) {
      throw new ApiError(404, 'not_found', `workspace ${workspace.namespace} has no database "${request.params.database.slice(0, 64)}"`)
    }
    return { success: true, data: { namespace: workspace.namespace, database: workspace.database, identity: workspace.repository } }
  })
}

export const federateRoutes = fp(plugin, { name: 'federate-federate-routes', fastify: '5.x', dependencies: [SERVICES] })
