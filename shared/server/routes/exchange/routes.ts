/** Protocol A: the OIDC exchange and its dry run (explain). Anyone with a GitHub OIDC token calls them. */
import type { FastifyInstance, FastifyPluginAsync } from 'fastify'
import fp from 'fastify-plugin'
import { ApiError, badRequest } from '../../errors'
import { isUuid } from '../../http'
import { noteEvent, noteIdentity } from '../../request-facts'
import { SERVICES } from '../../services'
import { denied, succeeded, type Agent } from '../../store/store'
import { decide, type GitHubTokenClaims, type PolicyDecision } from '../../trust'
import { ExchangeAnswer, ExchangeBody, ExplainAnswer } from './schemas'
import { publicClaims, rateLimit, verifyOidc } from './verify'

interface Evaluated {
  claims: GitHubTokenClaims
  tokenHash: string
  agent?: Agent
  /** undefined when the agent is unknown or disabled. */
  decision?: PolicyDecision
}

function checkBody(body: ExchangeBody): void {
  if (body.provider !== 'github') throw badRequest(`unknown provider "${body.provider.slice(0, 64)}"; only "github" is supported`)
  if (body.agentId !== undefined && !isUuid(body.agentId)) throw badRequest('agentId must be a UUID')
}

/** Verification, rate limit, agent lookup and policy decision; shared by exchange and explain. */
async function evaluate(app: FastifyInstance, body: ExchangeBody, action: 'token.exchange' | 'policy.explain'): Promise<Evaluated> {
  checkBody(body)
  const verified = await verifyOidc(app, body.token, app.publicUrl(), action)
  const { claims, tokenSha256: tokenHash } = verified
  await rateLimit(app, claims, action, tokenHash)
  // One read for the agent and the policies that can concern this repository (by name or
  // pinned id), not the whole table: each statement costs a parse and plan in WASM on PGlite.
  const { agent: found, policies } = await app.store.exchangeInputs.read(body.agentId?.toLowerCase(), claims.iss, claims.repository, claims.repository_id)
  // An agent of another issuer does not exist for this token.
  const agent = found && found.issuer === claims.iss ? found : undefined
  if (body.agentId !== undefined && (!agent || agent.status !== 'active')) return { claims, tokenHash, agent }
  const decision = decide(claims, policies, agent)
  return { claims, tokenHash, agent, decision }
}

function auditDetail(evaluated: Evaluated, extra: Record<string, unknown>): Record<string, unknown> {
  const { claims } = evaluated
  return {
    tokenSha256: evaluated.tokenHash,
    ref: claims.ref,
    eventName: claims.event_name,
    jobWorkflowRef: claims.job_workflow_ref,
    ...(claims.environment ? { environment: claims.environment } : {}),
    ...extra
  }
}

const plugin: FastifyPluginAsync = async (app) => {
  app.post<{ Body: ExchangeBody; Reply: ExchangeAnswer }>('/api/v1/oidc/token', { schema: { body: ExchangeBody } }, async (request, reply) => {
    const body = request.body
    const evaluated = await evaluate(app, body, 'token.exchange')
    noteIdentity(request, `repo:${evaluated.claims.repository}`)
    const { claims, agent, decision } = evaluated
    const base = { repository: claims.repository, repositoryId: claims.repository_id }
    if (body.agentId !== undefined && (!agent || agent.status !== 'active' || !decision)) {
      await app.store.audit.record({
        action: 'token.exchange',
        identityId: agent?.id ?? null,
        ...base,
        detail: auditDetail(evaluated, denied('agent_not_found', undefined, { agentId: body.agentId }))
      })
      throw new ApiError(404, 'agent_not_found', `agent ${body.agentId} does not exist or is disabled`)
    }
    if (!decision!.allowed) {
      const denial = decision as Extract<PolicyDecision, { allowed: false }>
      await app.store.audit.record({
        action: 'token.exchange',
        identityId: agent?.id ?? null,
        ...base,
        detail: auditDetail(evaluated, denied(denial.code, denial.reason, denial.closestPolicyId ? { closestPolicyId: denial.closestPolicyId } : {}))
      })
      throw new ApiError(403, denial.code, denial.reason)
    }
    const lifetime = Math.min(body.ttl ?? app.config.accessTokenTtlSeconds, app.config.accessTokenTtlSeconds)
    // Credential row, audit event and the agent's last use in one statement (atomic: no
    // credential row without its audit event, even after a crash; one round trip).
    const issued = await app.tokens.issueAccessToken({
      ...base,
      issuer: claims.iss,
      agentId: agent?.id,
      lifetimeSeconds: lifetime,
      audit: (credential) => ({
        action: 'token.exchange',
        identityId: agent?.id ?? null,
        ...base,
        detail: auditDetail(evaluated, succeeded('issued', { scope: credential.scope, policyId: decision!.policy.id }))
      })
    })
    noteEvent(request, { metric: 'exchange', scope: issued.credential.scope })
    reply.header('cache-control', 'no-store')
    return {
      access_token: issued.token,
      token_type: 'Bearer',
      expires_in: issued.expiresIn,
      expires_at: issued.expiresAt.toISOString(),
      scope: issued.credential.scope as ExchangeAnswer['scope'],
      ...(agent ? { agent_id: agent.id } : {})
    }
  })

  app.post<{ Body: ExchangeBody; Reply: ExplainAnswer }>('/api/v1/oidc/explain', { schema: { body: ExchangeBody } }, async (request) => {
    const body = request.body
    const evaluated = await evaluate(app, body, 'policy.explain')
    noteIdentity(request, `repo:${evaluated.claims.repository}`)
    const { claims, agent, decision } = evaluated
    let answer: Omit<ExplainAnswer, 'claims'>
    if (!decision) {
      answer = { allowed: false, code: 'agent_not_found', reason: `agent ${body.agentId} does not exist or is disabled` }
    } else if (decision.allowed) {
      answer = { allowed: true, policyId: decision.policy.id }
    } else {
      answer = {
        allowed: false,
        code: decision.code,
        reason: decision.reason,
        ...(decision.closestPolicyId ? { policyId: decision.closestPolicyId, closestPolicyId: decision.closestPolicyId } : {}),
        ...(decision.claim ? { claim: decision.claim } : {})
      }
    }
    await app.store.audit.record({
      action: 'policy.explain',
      identityId: agent?.id ?? null,
      repository: claims.repository,
      repositoryId: claims.repository_id,
      detail: auditDetail(evaluated, { outcome: answer.allowed ? 'allowed' : 'denied', ...answer })
    })
    return { ...answer, claims: publicClaims(claims) }
  })
}

export const exchangeRoutes = fp(plugin, { name: 'federate-exchange-routes', fastify: '5.x', dependencies: [SERVICES] })
