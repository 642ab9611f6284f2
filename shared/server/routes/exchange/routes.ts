/** Protocol A: the OIDC exchange and its dry run (explain). Anyone with a GitHub OIDC token calls them. */
import type { FastifyPluginAsync } from 'fastify'
import fp from 'fastify-plugin'
import { ApiError, badRequest } from '../../errors'
import { noteIdentity } from '../../request-facts'
import { SERVICES } from '../../services'
import { agentExpired, auditDetail, evaluate, exchangeToken, grant, type Grant } from './exchange'
import { ExchangeAnswer, ExchangeBody, ExplainAnswer } from './schemas'
import { publicClaims } from './verify'

function checkProvider(body: ExchangeBody): void {
  if (body.provider !== 'github') throw badRequest(`unknown provider "${body.provider.slice(0, 64)}"; only "github" is supported`)
}

const plugin: FastifyPluginAsync = async (app) => {
  app.post<{ Body: ExchangeBody; Reply: ExchangeAnswer }>('/api/v1/oidc/token', { schema: { body: ExchangeBody } }, async (request, reply) => {
    const body = request.body
    checkProvider(body)
    const issued = await exchangeToken(app, request, { token: body.token, agentId: body.agentId, ttl: body.ttl, scope: body.scope, audience: body.audience })
    reply.header('cache-control', 'no-store')
    return {
      access_token: issued.token,
      token_type: 'Bearer',
      expires_in: issued.expiresIn,
      expires_at: issued.expiresAt.toISOString(),
      scope: issued.scope,
      ...(issued.agentId ? { agent_id: issued.agentId } : {})
    }
  })

  app.post<{ Body: ExchangeBody; Reply: ExplainAnswer }>('/api/v1/oidc/explain', { schema: { body: ExchangeBody } }, async (request) => {
    const body = request.body
    checkProvider(body)
    const evaluated = await evaluate(app, body, 'policy.explain')
    noteIdentity(request, `repo:${evaluated.claims.repository}`)
    const { claims, agent, decision } = evaluated
    let answer: Omit<ExplainAnswer, 'claims'>
    const expired = agentExpired(app, agent)
    const granted = decision?.allowed ? grant(app, evaluated, body) : undefined
    if (!decision) {
      answer = { allowed: false, code: 'agent_not_found', reason: `agent ${body.agentId} does not exist or is disabled` }
    } else if (expired) {
      answer = { allowed: false, code: expired.code, reason: expired.message }
    } else if (decision.allowed && granted instanceof ApiError) {
      answer = { allowed: false, code: granted.code, reason: granted.message, policyId: decision.policy.id }
    } else if (decision.allowed) {
      const { scope, audience, lifetime } = granted as Grant
      answer = { allowed: true, policyId: decision.policy.id, scope, audience, expiresIn: lifetime }
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
