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
import { workspaceUnavailable } from '../../workspaces/errors'
import { rateLimit, verifyOidc } from '../exchange/verify'
import { WORKSPACE_SCOPES } from '../../tokens'
import type { Federated } from './schemas'

const DATABASE = 'main'

class WorkspaceDisabled extends Error {}

/**
 * The workspace token's scope: the body's `scope` (space-separated db:read / db:write), both
 * when there is none. The body is optional (federate needs none), so it is judged here.
 */
function requestedScope(body: unknown): string {
  const asked = body && typeof body === 'object' ? (body as { scope?: unknown }).scope : undefined
  if (asked === undefined) return WORKSPACE_SCOPES.join(' ')
  const allowed = `allowed: ${WORKSPACE_SCOPES.map((s) => `"${s}"`).join(', ')} (space-separated; default both)`
  if (typeof asked !== 'string') throw new ApiError(400, 'invalid_scope', `scope must be a string; ${allowed}`)
  const scopes = asked.split(' ').filter(Boolean)
  const unknown = scopes.filter((s) => !(WORKSPACE_SCOPES as readonly string[]).includes(s))
  if (scopes.length === 0 || unknown.length > 0) {
    throw new ApiError(400, 'invalid_scope', `${unknown.length ? `unknown scope "${unknown[0]!.slice(0, 64)}"` : 'scope is empty'}; ${allowed}`)
  }
  // In a stable order, each once.
  return WORKSPACE_SCOPES.filter((s) => scopes.includes(s)).join(' ')
}

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
    const scope = requestedScope(request.body)
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
    const { workspace, created, issued } = await store
      .transaction(async (tx) => {
        const { workspace, created } = await tx.workspaces.federate({
          ...base,
          issuer: claims.iss,
          namespace: namespaceFor(claims.iss, claims.repository, claims.repository_id),
          database: DATABASE,
          ...app.workspaces.newEngineIdentity()
        })
        // Rolled back: no token for a disabled workspace (audited below).
        if (workspace.disabledAt) throw new WorkspaceDisabled()
        // The token's credential row and the audit event in one statement (one round trip less).
        const issued = await tokens.withStore(tx).issueWorkspaceToken(
          workspace,
          config.workspaceTokenTtlSeconds,
          () => ({
            action: 'workspace.federate',
            identityId: workspace.id,
            workspaceId: workspace.id,
            ...base,
            detail: { outcome: created ? 'created' : 'existing', namespace: workspace.namespace, tokenSha256, ref: claims.ref, eventName: claims.event_name, scope }
          }),
          scope
        )
        return { workspace, created, issued }
      })
      .catch(async (error: unknown) => {
        if (!(error instanceof WorkspaceDisabled)) throw error
        const reason = 'this workspace was disabled by the server operator; its data is kept, and federate works again once they enable it'
        await store.audit.record({ action: 'workspace.federate', ...base, detail: denied('workspace_disabled', reason, { tokenSha256, eventName: claims.event_name }) })
        throw new ApiError(403, 'workspace_disabled', reason)
      })
    // On PostgreSQL its database exists before its token is handed out (a retry provisions what a failure left undone).
    try {
      await app.workspaces.provisionOnSignUp(workspace)
    } catch (error) {
      request.log.error({ err: error instanceof Error ? { message: error.message } : {} }, 'workspace database could not be created')
      throw workspaceUnavailable('the workspace database could not be created right now; run federate again shortly (the operator finds the reason in the server log)', 5)
    }
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
        expiresAt: issued.expiresAt.toISOString(),
        scope
      }
    }
    return reply.code(created ? 201 : 200).send(answer)
  })
}

export const federateRoutes = fp(plugin, { name: 'federate-federate-routes', fastify: '5.x', dependencies: [SERVICES] })
