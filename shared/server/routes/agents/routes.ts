/** Protocol A: agent registration, by a workflow holding a bootstrap token. */
import type { FastifyInstance, FastifyPluginAsync, FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'
import { ApiError, badRequest, unauthorized } from '../../errors'
import { bearerToken, requireBearer } from '../../http'
import { idempotencyKey, withIdempotency } from '../../idempotency'
import { noteEvent, noteIdentity } from '../../request-facts'
import { SERVICES } from '../../services'
import { denied, type Agent, type Store } from '../../store/store'
import { SCOPE_BOOTSTRAP, type AuthenticatedAccessToken } from '../../tokens'
import { repositoryKey } from '../exchange/verify'
import { parseAllowedScopes, parseExpiresAt, parseOwner } from './fields'
import { RegisterBody, type Registered } from './schemas'

// An e-mail-shaped name: local@domain.tld, no spaces or control characters.
const AGENT_NAME = /^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]{1,64}@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$/

/** Authenticates the bearer as one of our access tokens; 401 otherwise. */
export async function accessToken(app: FastifyInstance, request: FastifyRequest): Promise<AuthenticatedAccessToken> {
  const token = bearerToken(request)
  if (!token) throw unauthorized('missing "Authorization: Bearer <token>" (a bootstrap token from /api/v1/oidc/token)')
  // A refused token (TokenRejected) is a 401 (errors.ts).
  const authenticated = await app.tokens.authenticateAccessToken(token)
  await app.store.credentials.touch(authenticated.credential.id)
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
async function admitNewAgent(app: FastifyInstance, tx: Store, owner: string, issuer: string, repositoryId: string, max: number): Promise<void> {
  if ((await tx.agents.countOwnedBy(issuer, repositoryId)) > max) {
    throw new ApiError(
      403,
      'agent_limit_reached',
      `this repository already owns ${max} agents (MAX_AGENTS_PER_REPOSITORY); reuse one, or ask the operator to disable unused ones or raise the limit`
    )
  }
  const decision = await app.registrationLimiter(tx.db).take(`register:${owner}`)
  if (!decision.ok) {
    throw new ApiError(429, 'rate_limited', `too many new agents from this repository; retry in ${decision.retryAfterSeconds} s`, {
      'retry-after': String(decision.retryAfterSeconds)
    })
  }
}

const plugin: FastifyPluginAsync = async (app) => {
  // onRequest: a request without credentials is a 401 before its body is read or judged.
  app.post<{ Body: RegisterBody }>('/api/v1/agents', { onRequest: requireBearer, schema: { body: RegisterBody } }, async (request, reply) => {
    const caller = await accessToken(app, request)
    if (caller.credential.kind !== 'bootstrap' || !caller.credential.scope.split(' ').includes(SCOPE_BOOTSTRAP)) {
      throw new ApiError(403, 'insufficient_scope', `registering an agent needs a token with scope "${SCOPE_BOOTSTRAP}" (a bootstrap exchange without agentId)`, {
        'www-authenticate': `Bearer error="insufficient_scope", scope="${SCOPE_BOOTSTRAP}"`
      })
    }
    const { name } = request.body
    if (!AGENT_NAME.test(name)) throw new ApiError(400, 'invalid_request', 'name must look like an e-mail address, e.g. ci-bot@acme.example')
    const description = request.body.description ?? ''
    const owner = request.body.owner === undefined ? undefined : parseOwner(request.body.owner)
    const allowedScopes = request.body.allowedScopes === undefined ? undefined : parseAllowedScopes(request.body.allowedScopes)
    const expiresAt = request.body.expiresAt === undefined ? undefined : parseExpiresAt(request.body.expiresAt)
    if (expiresAt && expiresAt.getTime() <= app.now().getTime()) throw badRequest('expiresAt must be in the future')
    const { repository, repositoryId, issuer } = caller.credential
    const ownerKey = repositoryKey(issuer, repositoryId)
    const key = idempotencyKey(request)
    const { maxPerRepository } = app.config.agentRegistration

    const result = await withIdempotency(app.store, ownerKey, key, request.body, async () => {
      // One transaction: an agent is never stored without its registration audit event, and
      // a creation refused by the cap or the rate limit below is rolled back.
      const { agent, created } = await app.store.transaction(async (tx) => {
        const registered = await tx.agents.register({ issuer, name, description, repository, repositoryId, owner, allowedScopes, expiresAt })
        if (!sameOwner(registered.agent, issuer, repositoryId)) return registered // refused below, nothing written
        if (registered.created) {
          // New agents of one repository are counted one at a time: the lock is released at
          // commit, so each counter sees every earlier creation (the cap holds under races).
          await tx.lockKey(`register:${ownerKey}`)
          await admitNewAgent(app, tx, ownerKey, issuer, repositoryId, maxPerRepository)
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
        await app.store.audit.record({
          action: 'agent.register',
          identityId: agent.id,
          credentialId: caller.credential.id,
          repository,
          repositoryId,
          detail: denied('agent_exists', undefined, { name })
        })
        throw new ApiError(409, 'agent_exists', `an agent named "${name}" already belongs to another repository; pick another name`)
      }
      const body: Registered = {
        agentId: agent.id,
        name: agent.name,
        description: agent.description,
        createdAt: agent.createdAt.toISOString(),
        created,
        owner: agent.owner,
        allowedScopes: agent.allowedScopes,
        expiresAt: agent.expiresAt ? agent.expiresAt.toISOString() : null
      }
      return { status: created ? 201 : 200, body }
    })
    noteEvent(request, { metric: 'registration', created: result.status === 201 })
    return reply.code(result.status).send(result.body)
  })
}

export const agentRoutes = fp(plugin, { name: 'federate-agent-routes', fastify: '5.x', dependencies: [SERVICES] })
