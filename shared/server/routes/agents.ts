/** Protocol A: agent registration (bootstrap token) and identity administration (admin). */
import type { FastifyPluginAsync, FastifyRequest } from 'fastify'
import type { AppOptions } from '../context'
import type { AppContext } from '../context'
import { ApiError, unauthorized } from '../errors'
import { adminOnly, bearerToken, requireBearer, uuidParam } from '../http'
import { idempotencyKey, withIdempotency } from '../idempotency'
import { noteIdentity } from '../request-facts'
import { repositoryKey } from './oidc-token'
import { SCOPE_BOOTSTRAP, type AuthenticatedAccessToken } from '../tokens'
import type { Agent, Credential, Store } from '../store/store'
import { agentView, auditView, credentialView } from '../views'

interface RegisterBody {
  name: string
  description?: string
}

// An e-mail-shaped name: local@domain.tld, no spaces or control characters.
const AGENT_NAME = /^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]{1,64}@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$/

const registerSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['name'],
  properties: {
    name: { type: 'string', minLength: 3, maxLength: 254 },
    description: { type: 'string', maxLength: 1024 }
  }
} as const

/** Authenticates the bearer as one of our access tokens; 401 otherwise. */
export async function accessToken(context: AppContext, request: FastifyRequest): Promise<AuthenticatedAccessToken> {
  const token = bearerToken(request)
  if (!token) throw unauthorized('missing "Authorization: Bearer <token>" (a bootstrap token from /api/v1/oidc/token)')
  // A refused token (TokenRejected) is a 401 (errors.ts).
  const authenticated = await context.tokens.authenticateAccessToken(token)
  await context.store.credentials.touch(authenticated.credential.id)
  noteIdentity(request, authenticated.credential.agentId ?? `repo:${authenticated.credential.repository}`)
  return authenticated
}

/** An agent belongs to the repository id (of one issuer) that registered it. */
function sameOwner(agent: Agent, issuer: string, repositoryId: string): boolean {
  return agent.issuer === issuer && agent.repositoryId === repositoryId
}

/**
 * A new agent counts against its repository's cap and registration rate; throwing here
 * rolls the registration back. Re-registering an existing name costs nothing (workflows
 * run register-agent on every push).
 */
async function admitNewAgent(context: AppContext, tx: Store, owner: string, issuer: string, repositoryId: string, max: number): Promise<void> {
  if ((await tx.agents.countOwnedBy(issuer, repositoryId)) > max) {
    throw new ApiError(
      403,
      'agent_limit_reached',
      `this repository already owns ${max} agents (MAX_AGENTS_PER_REPOSITORY); reuse one, or ask the operator to disable unused ones or raise the limit`
    )
  }
  const decision = await context.registrationLimiter(tx.db).take(`register:${owner}`)
  if (!decision.ok) {
    throw new ApiError(429, 'rate_limited', `too many new agents from this repository; retry in ${decision.retryAfterSeconds} s`, {
      'retry-after': String(decision.retryAfterSeconds)
    })
  }
}

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

export const agentRoutes: FastifyPluginAsync<AppOptions> = async (app, { context }) => {
  const { store, config } = context
  const admin = adminOnly(config.adminToken)

  // onRequest: a request without credentials is a 401 before its body is read or judged.
  app.post<{ Body: RegisterBody }>('/api/v1/agents', { onRequest: requireBearer, schema: { body: registerSchema } }, async (request, reply) => {
    const caller = await accessToken(context, request)
    if (!caller.credential.scope.split(' ').includes(SCOPE_BOOTSTRAP)) {
      throw new ApiError(403, 'insufficient_scope', `registering an agent needs a token with scope "${SCOPE_BOOTSTRAP}" (a bootstrap exchange without agentId)`, {
        'www-authenticate': `Bearer error="insufficient_scope", scope="${SCOPE_BOOTSTRAP}"`
      })
    }
    const { name } = request.body
    if (!AGENT_NAME.test(name)) throw new ApiError(400, 'invalid_request', 'name must look like an e-mail address, e.g. ci-bot@acme.example')
    const description = request.body.description ?? ''
    const { repository, repositoryId, issuer } = caller.credential
    const owner = repositoryKey(issuer, repositoryId)
    const key = idempotencyKey(request)
    const { maxPerRepository } = config.agentRegistration

    const result = await withIdempotency(store, owner, key, request.body, async () => {
      // One transaction: an agent is never stored without its registration audit event, and
      // a creation refused by the cap or the rate limit below is rolled back.
      const { agent, created } = await store.transaction(async (tx) => {
        const registered = await tx.agents.register({ issuer, name, description, repository, repositoryId })
        if (!sameOwner(registered.agent, issuer, repositoryId)) return registered // refused below, nothing written
        if (registered.created) {
          // New agents of one repository are counted one at a time: the lock is released at
          // commit, so each counter sees every earlier creation (the cap holds under races).
          await tx.lockKey(`register:${owner}`)
          await admitNewAgent(context, tx, owner, issuer, repositoryId, maxPerRepository)
        }
        if (!registered.created && registered.agent.repository !== repository) {
          await tx.agents.rename(registered.agent.id, repository)
        }
        await tx.audit.record({
          action: 'agent.register',
          identityId: registered.agent.id,
          credentialId: caller.credential.id,
          repository,
          repositoryId,
          detail: { outcome: registered.created ? 'created' : 'existing', name }
        })
        return registered
      })
      if (!sameOwner(agent, issuer, repositoryId)) {
        await store.audit.record({
          action: 'agent.register',
          identityId: agent.id,
          credentialId: caller.credential.id,
          repository,
          repositoryId,
          detail: { outcome: 'denied', code: 'agent_exists', name }
        })
        throw new ApiError(409, 'agent_exists', `an agent named "${name}" already belongs to another repository; pick another name`)
      }
      return {
        status: created ? 201 : 200,
        body: {
          agentId: agent.id,
          name: agent.name,
          description: agent.description,
          createdAt: agent.createdAt.toISOString(),
          created
        }
      }
    })
    return reply.code(result.status).send(result.body)
  })

  app.get<{ Params: { id: string } }>('/api/v1/agents/:id', { onRequest: admin }, async (request) => {
    const agent = await store.agents.get(uuidParam(request.params.id, 'agent id'))
    if (!agent) throw new ApiError(404, 'agent_not_found', `no agent ${request.params.id}`)
    return agentView(agent)
  })

  app.get<{ Params: { id: string } }>('/api/v1/agents/:id/credentials', { onRequest: admin }, async (request) => {
    const id = uuidParam(request.params.id, 'agent id')
    if (!(await store.agents.get(id))) throw new ApiError(404, 'agent_not_found', `no agent ${id}`)
    const now = context.now()
    return { items: (await store.credentials.listForAgent(id)).map((c) => credentialView(c, now)) }
  })

  app.post<{ Params: { id: string; credentialId: string } }>(
    '/api/v1/agents/:id/credentials/:credentialId/revoke',
    { onRequest: admin },
    async (request) => {
      const id = uuidParam(request.params.id, 'agent id')
      const credentialId = uuidParam(request.params.credentialId, 'credential id')
      const credential = await store.credentials.get(credentialId)
      if (!credential || credential.agentId !== id) throw new ApiError(404, 'not_found', `agent ${id} has no credential ${credentialId}`)
      return credentialView(await revokeByAdmin(store, credential), context.now())
    }
  )

  // Any credential, whatever its kind: a leaked bootstrap or workspace token ends now, not at its expiry.
  app.post<{ Params: { id: string } }>('/api/v1/credentials/:id/revoke', { onRequest: admin }, async (request) => {
    const id = uuidParam(request.params.id, 'credential id')
    const credential = await store.credentials.get(id)
    if (!credential) throw new ApiError(404, 'not_found', `no credential ${id}`)
    return credentialView(await revokeByAdmin(store, credential), context.now())
  })

  app.post<{ Params: { id: string } }>('/api/v1/agents/:id/disable', { onRequest: admin }, async (request) => {
    const id = uuidParam(request.params.id, 'agent id')
    const agent = await store.agents.disable(id)
    if (!agent) throw new ApiError(404, 'agent_not_found', `no agent ${id}`)
    await store.audit.record({
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
    if (!(await store.agents.get(id))) throw new ApiError(404, 'agent_not_found', `no agent ${id}`)
    return { items: (await store.audit.forIdentity(id)).map(auditView) }
  })

  // All recent events, denials without an identity included (operators debugging a policy).
  app.get('/api/v1/audit', { onRequest: admin }, async () => {
    return { items: (await store.audit.recent()).map(auditView) }
  })
}
