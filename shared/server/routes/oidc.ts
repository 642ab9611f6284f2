/** Protocol A: the OIDC exchange, the explain endpoint and trust-policy administration. */
import type { FastifyPluginAsync } from 'fastify'
import type { AppOptions } from '../context'
import type { AppContext } from '../context'
import { ApiError, badRequest } from '../errors'
import { adminOnly, isUuid, uuidParam } from '../http'
import { noteIdentity } from '../request-facts'
import type { Agent } from '../store/store'
import { decide, validatePolicyInput, type GitHubTokenClaims, type PolicyDecision } from '../trust'
import { exchangeBodySchema, publicClaims, rateLimit, verifyOidc, type ExchangeBody } from './oidc-token'

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
async function evaluate(context: AppContext, body: ExchangeBody, action: 'token.exchange' | 'policy.explain'): Promise<Evaluated> {
  checkBody(body)
  const verified = await verifyOidc(context, body.token, context.publicUrl(), action)
  const { claims, tokenSha256: tokenHash } = verified
  await rateLimit(context, claims, action, tokenHash)
  // One read for the agent and the policies that can concern this repository (by name or
  // pinned id), not the whole table: each statement costs a parse and plan in WASM on PGlite.
  const { agent: found, policies } = await context.store.exchangeInputs.read(
    body.agentId?.toLowerCase(),
    claims.iss,
    claims.repository,
    claims.repository_id
  )
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

const shortString = { type: 'string', maxLength: 512 } as const

/** Shape and size only; validatePolicyInput (trust module) judges the values. */
const policyBodySchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    provider: { type: 'string', maxLength: 64 },
    repository: shortString,
    repositoryId: shortString,
    repositoryOwnerId: shortString,
    branch: shortString,
    environment: shortString,
    workflowRef: shortString,
    agentId: { type: 'string', maxLength: 64 },
    events: { type: 'array', maxItems: 32, items: { type: 'string', maxLength: 64 } },
    issuer: { type: 'string', maxLength: 512 }
  }
} as const

/**
 * The issuer a new policy is for: optional when one issuer is trusted (that one), required
 * when several are, and always one of OIDC_ISSUERS.
 */
function policyIssuer(given: unknown, trusted: string[]): string {
  if (given === undefined || given === null) {
    if (trusted.length === 1) return trusted[0]!
    throw badRequest(`issuer is required when several issuers are trusted; one of: ${trusted.join(', ')}`)
  }
  const issuer = String(given).replace(/\/$/, '')
  if (!trusted.includes(issuer)) throw badRequest(`issuer ${JSON.stringify(String(given).slice(0, 200))} is not one of the trusted issuers (OIDC_ISSUERS): ${trusted.join(', ')}`)
  return issuer
}

export const oidcRoutes: FastifyPluginAsync<AppOptions> = async (app, { context }) => {
  const { store, config } = context
  const admin = adminOnly(config.adminToken)

  app.post<{ Body: ExchangeBody }>('/api/v1/oidc/token', { schema: { body: exchangeBodySchema } }, async (request, reply) => {
    const body = request.body
    const evaluated = await evaluate(context, body, 'token.exchange')
    noteIdentity(request, `repo:${evaluated.claims.repository}`)
    const { claims, agent, decision } = evaluated
    const base = { repository: claims.repository, repositoryId: claims.repository_id }
    if (body.agentId !== undefined && (!agent || agent.status !== 'active' || !decision)) {
      await store.audit.record({
        action: 'token.exchange',
        identityId: agent?.id ?? null,
        ...base,
        detail: auditDetail(evaluated, { outcome: 'denied', code: 'agent_not_found', agentId: body.agentId })
      })
      throw new ApiError(404, 'agent_not_found', `agent ${body.agentId} does not exist or is disabled`)
    }
    if (!decision!.allowed) {
      const denial = decision as Extract<PolicyDecision, { allowed: false }>
      await store.audit.record({
        action: 'token.exchange',
        identityId: agent?.id ?? null,
        ...base,
        detail: auditDetail(evaluated, {
          outcome: 'denied',
          code: denial.code,
          reason: denial.reason,
          ...(denial.closestPolicyId ? { closestPolicyId: denial.closestPolicyId } : {})
        })
      })
      throw new ApiError(403, denial.code, denial.reason)
    }
    const lifetime = Math.min(body.ttl ?? config.accessTokenTtlSeconds, config.accessTokenTtlSeconds)
    // Credential row, audit event and the agent's last use in one statement (atomic: no
    // credential row without its audit event, even after a crash; one round trip).
    const issued = await context.tokens.issueAccessToken({
      ...base,
      issuer: claims.iss,
      agentId: agent?.id,
      lifetimeSeconds: lifetime,
      audit: (credential) => ({
        action: 'token.exchange',
        identityId: agent?.id ?? null,
        ...base,
        detail: auditDetail(evaluated, { outcome: 'issued', scope: credential.scope, policyId: decision!.policy.id })
      })
    })
    reply.header('cache-control', 'no-store')
    return {
      access_token: issued.token,
      token_type: 'Bearer',
      expires_in: issued.expiresIn,
      expires_at: issued.expiresAt.toISOString(),
      scope: issued.credential.scope,
      ...(agent ? { agent_id: agent.id } : {})
    }
  })

  app.post<{ Body: ExchangeBody }>('/api/v1/oidc/explain', { schema: { body: exchangeBodySchema } }, async (request) => {
    const body = request.body
    const evaluated = await evaluate(context, body, 'policy.explain')
    noteIdentity(request, `repo:${evaluated.claims.repository}`)
    const { claims, agent, decision } = evaluated
    let answer: Record<string, unknown>
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
    await store.audit.record({
      action: 'policy.explain',
      identityId: agent?.id ?? null,
      repository: claims.repository,
      repositoryId: claims.repository_id,
      detail: auditDetail(evaluated, { outcome: answer.allowed ? 'allowed' : 'denied', ...answer })
    })
    return { ...answer, claims: publicClaims(claims) }
  })

  // --- trust policies (admin) -------------------------------------------------------

  app.post('/api/v1/oidc/trust-policies', { onRequest: admin, schema: { body: policyBodySchema } }, async (request, reply) => {
    const { issuer: givenIssuer, ...fields } = (request.body ?? {}) as Record<string, unknown>
    const checked = validatePolicyInput(fields)
    if (!checked.ok) throw badRequest(checked.reason)
    const issuer = policyIssuer(givenIssuer, config.oidcIssuers)
    if (checked.value.agentId !== undefined) {
      const agent = await store.agents.get(checked.value.agentId.toLowerCase())
      if (!agent) throw badRequest(`agentId ${checked.value.agentId} is not a registered agent`)
      if (agent.issuer !== issuer) throw badRequest(`agent ${agent.id} belongs to issuer ${agent.issuer}, not ${issuer}`)
      checked.value.agentId = agent.id
    }
    const policy = await store.policies.create({ ...checked.value, issuer })
    await store.audit.record({
      action: 'policy.create',
      identityId: policy.agentId ?? null,
      repository: policy.repository,
      repositoryId: policy.repositoryId ?? null,
      detail: { policy }
    })
    return reply.code(201).send(policy)
  })

  app.get('/api/v1/oidc/trust-policies', { onRequest: admin }, async (request) => {
    return { items: await store.policies.list() }
  })

  app.delete<{ Params: { id: string } }>('/api/v1/oidc/trust-policies/:id', { onRequest: admin }, async (request, reply) => {
    const id = uuidParam(request.params.id, 'policy id')
    if (!(await store.policies.delete(id))) throw new ApiError(404, 'not_found', `no trust policy ${id}`)
    await store.audit.record({ action: 'policy.delete', detail: { policyId: id } })
    return reply.code(204).send()
  })
}
