/**
 * The core of the OIDC exchange, apart from its route: POST /api/v1/oidc/token and the
 * RFC 8693 token endpoint both call exchangeToken and answer its ApiErrors in their own terms.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify'
import { ApiError, badRequest } from '../../errors'
import { isUuid } from '../../http'
import { noteEvent, noteIdentity } from '../../request-facts'
import { denied, succeeded, type Agent } from '../../store/store'
import { SCOPE_AGENT, SCOPE_BOOTSTRAP } from '../../tokens'
import { decide, type GitHubTokenClaims, type PolicyDecision, type TrustPolicy } from '../../trust'
import { rateLimit, verifyOidc } from './verify'

export interface Evaluated {
  claims: GitHubTokenClaims
  tokenHash: string
  agent?: Agent
  /** undefined when the agent is unknown or disabled. */
  decision?: PolicyDecision
}

export interface ExchangeInput {
  /** The GitHub OIDC token. */
  token: string
  agentId?: string
  /** Requested lifetime in seconds. */
  ttl?: number
  /** Space-separated scopes asked for. */
  scope?: string
  /** The audience asked for (one string). */
  audience?: string
}

export interface ExchangeResult {
  token: string
  expiresIn: number
  expiresAt: Date
  scope: string
  audience: string
  agentId?: string
}

/** Verification, rate limit, agent lookup and policy decision; shared by exchange and explain. */
export async function evaluate(app: FastifyInstance, input: { token: string; agentId?: string }, action: 'token.exchange' | 'policy.explain'): Promise<Evaluated> {
  if (input.agentId !== undefined && !isUuid(input.agentId)) throw badRequest('agentId must be a UUID')
  const verified = await verifyOidc(app, input.token, app.publicUrl(), action)
  const { claims, tokenSha256: tokenHash } = verified
  await rateLimit(app, claims, action, tokenHash)
  // One read for the agent and the policies that can concern this repository (by name or
  // pinned id), not the whole table: each statement costs a parse and plan in WASM on PGlite.
  const { agent: found, policies } = await app.store.exchangeInputs.read(input.agentId?.toLowerCase(), claims.iss, claims.repository, claims.repository_id)
  // An agent of another issuer does not exist for this token.
  const agent = found && found.issuer === claims.iss ? found : undefined
  if (input.agentId !== undefined && (!agent || agent.status !== 'active')) return { claims, tokenHash, agent }
  const decision = decide(claims, policies, agent)
  return { claims, tokenHash, agent, decision }
}

export function auditDetail(evaluated: Evaluated, extra: Record<string, unknown>): Record<string, unknown> {
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

/** What an allowed exchange issues. */
export interface Grant {
  /** Space-separated. */
  scope: string
  audience: string
  /** Seconds. */
  lifetime: number
}

/** 403 agent_expired from the agent's expiresAt on (no clock tolerance), else undefined. */
export function agentExpired(app: FastifyInstance, agent: Agent | undefined): ApiError | undefined {
  if (!agent?.expiresAt || agent.expiresAt.getTime() > app.now().getTime()) return undefined
  return new ApiError(403, 'agent_expired', `agent ${agent.id} expired at ${agent.expiresAt.toISOString()}; an administrator can extend it (PATCH /api/v1/agents/${agent.id})`)
}

/** The scopes an exchange may ask for: the policy's (capped by the agent's allowedScopes), or the fixed scope of its kind. */
export function allowedScopes(policy: TrustPolicy, agent: Agent | undefined): string[] {
  if (!agent) return [SCOPE_BOOTSTRAP]
  const scopes = policy.scopes ?? [SCOPE_AGENT]
  return agent.allowedScopes ? scopes.filter((scope) => agent.allowedScopes!.includes(scope)) : scopes
}

const list = (values: string[]): string => (values.length === 0 ? 'none' : values.map((v) => JSON.stringify(v)).join(', '))

/**
 * What an allowed decision issues for the requested scope, audience and ttl, or the 400
 * (invalid_scope, invalid_target) that refuses them; exchange and explain share it.
 */
export function grant(app: FastifyInstance, evaluated: Evaluated, input: Pick<ExchangeInput, 'scope' | 'audience' | 'ttl'>): Grant | ApiError {
  const policy = (evaluated.decision as Extract<PolicyDecision, { allowed: true }>).policy
  const allowed = allowedScopes(policy, evaluated.agent)
  const requested = input.scope === undefined ? undefined : [...new Set(input.scope.split(' ').filter((part) => part !== ''))]
  if (requested !== undefined && requested.length === 0) return new ApiError(400, 'invalid_scope', `scope is empty; allowed: ${list(allowed)}`)
  if (allowed.length === 0) {
    return new ApiError(
      400,
      'invalid_scope',
      `no scope can be granted: policy ${policy.id} grants ${list(policy.scopes ?? [])} and agent ${evaluated.agent?.id} allows ${list(evaluated.agent?.allowedScopes ?? [])}`
    )
  }
  const refused = requested?.filter((scope) => !allowed.includes(scope)) ?? []
  if (refused.length > 0) {
    return new ApiError(400, 'invalid_scope', `scope ${list(refused.map((s) => s.slice(0, 64)))} is not granted here; allowed: ${list(allowed)}`)
  }
  // The policy's order, whatever the request's.
  const scope = (requested ? allowed.filter((s) => requested.includes(s)) : allowed).join(' ')
  const audiences = [app.publicUrl(), ...(policy.audiences ?? [])]
  const audience = input.audience ?? app.publicUrl()
  if (!audiences.includes(audience)) {
    return new ApiError(400, 'invalid_target', `audience ${JSON.stringify(audience.slice(0, 256))} is not granted here; allowed: ${list(audiences)}`)
  }
  const cap = app.config.accessTokenTtlSeconds
  const lifetime = Math.min(input.ttl ?? cap, policy.maxTtl ?? cap, cap)
  return { scope, audience, lifetime }
}

/**
 * Verifies the OIDC token, rate-limits, decides, audits and issues an access token; every
 * refusal is audited and thrown as an ApiError (400, 401, 403, 404, 429 or 503).
 */
export async function exchangeToken(app: FastifyInstance, request: FastifyRequest, input: ExchangeInput): Promise<ExchangeResult> {
  const evaluated = await evaluate(app, input, 'token.exchange')
  noteIdentity(request, `repo:${evaluated.claims.repository}`)
  const { claims, agent, decision } = evaluated
  const base = { repository: claims.repository, repositoryId: claims.repository_id }
  const refuse = async (error: ApiError, extra: Record<string, unknown> = {}): Promise<never> => {
    await app.store.audit.record({
      action: 'token.exchange',
      identityId: agent?.id ?? null,
      ...base,
      detail: auditDetail(evaluated, denied(error.code, error.message, extra))
    })
    throw error
  }
  if (input.agentId !== undefined && (!agent || agent.status !== 'active' || !decision)) {
    await app.store.audit.record({
      action: 'token.exchange',
      identityId: agent?.id ?? null,
      ...base,
      detail: auditDetail(evaluated, denied('agent_not_found', undefined, { agentId: input.agentId }))
    })
    throw new ApiError(404, 'agent_not_found', `agent ${input.agentId} does not exist or is disabled`)
  }
  const expired = agentExpired(app, agent)
  if (expired) await refuse(expired, { agentId: agent!.id })
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
  const policyId = decision!.policy.id
  const granted = grant(app, evaluated, input)
  if (granted instanceof ApiError) await refuse(granted, { policyId })
  const { scope, audience, lifetime } = granted as Grant
  // Credential row, audit event and the agent's last use in one statement (atomic: no
  // credential row without its audit event, even after a crash; one round trip).
  const issued = await app.tokens.issueAccessToken({
    ...base,
    issuer: claims.iss,
    agentId: agent?.id,
    lifetimeSeconds: lifetime,
    scope,
    audience,
    audit: (credential) => ({
      action: 'token.exchange',
      identityId: agent?.id ?? null,
      ...base,
      detail: auditDetail(evaluated, succeeded('issued', { scope: credential.scope, audience, policyId }))
    })
  })
  // By kind, not by granted scopes: admins' scope combinations would make labels unbounded.
  noteEvent(request, { metric: 'exchange', scope: agent ? SCOPE_AGENT : SCOPE_BOOTSTRAP })
  return {
    token: issued.token,
    expiresIn: issued.expiresIn,
    expiresAt: issued.expiresAt,
    scope: issued.credential.scope,
    audience,
    ...(agent ? { agentId: agent.id } : {})
  }
}
