/**
 * Protocol A (docs/protocol.md): the agent identity provider's exchange, explain, register and
 * revoke calls. Secrets in answers are masked before anything else looks at them. Fields
 * that are outputs come back exact (their echo in the log is neutralised where it is
 * printed); fields that only explain (the dry run's) come back neutralised (untrusted-text.ts).
 */
import { audienceText, decodeClaims } from './claims'
import { ActionError } from './errors'
import { endpoint } from './inputs'
import type { IdTokenSource } from './oidc'
import type { RetryPolicy } from './retry'
import type { Session } from './session'
import { untrusted } from './untrusted-text'

export interface AccessToken {
  accessToken: string
  expiresAt: string
  expiresIn?: number
  scope?: string
  /** The token's `aud` claim (several joined by ', '): the audience actually granted. */
  audience?: string
  agentId?: string
}

export interface ExchangeRequest {
  apiUrl: URL
  agentId?: string
  ttl?: number
  /** Space-separated scopes to ask for; unset: what the policy grants. */
  scope?: string
  /** The audience to ask for (the body's `audience`); unset: the server itself. */
  tokenAudience?: string
}

function str(json: Record<string, unknown>, field: string): string | undefined {
  const value = json[field]
  return typeof value === 'string' && value ? value : undefined
}

function exchangeBody(token: string, request: ExchangeRequest): Record<string, unknown> {
  return {
    provider: 'github',
    token,
    ...(request.agentId ? { agentId: request.agentId } : {}),
    ...(request.ttl ? { ttl: request.ttl } : {}),
    // Sent only when asked for, so that a run without these inputs sends what it always did.
    ...(request.scope ? { scope: request.scope } : {}),
    ...(request.tokenAudience ? { audience: request.tokenAudience } : {})
  }
}

/** POST /api/v1/oidc/token: trades the OIDC token for an access token. */
export async function exchange(session: Session, tokens: IdTokenSource, request: ExchangeRequest): Promise<AccessToken> {
  const url = endpoint(request.apiUrl, 'api/v1/oidc/token')
  const mode = request.agentId ? `for agent ${request.agentId}` : '(bootstrap)'
  const { json } = await session.postJson({
    what: `exchanging the GitHub OIDC token at ${url} ${mode}`,
    url,
    build: async () => ({ body: exchangeBody((await tokens.get()).value, request) })
  })
  const accessToken = str(json, 'access_token')
  if (accessToken) session.secrets.add(accessToken)
  if (!accessToken) throw new ActionError('invalid_response', `${url} answered without an access_token`)
  const expiresIn = typeof json.expires_in === 'number' ? json.expires_in : undefined
  // Without either field the expiry is unknown (''), which the post step treats as "still valid".
  const expiresAt = str(json, 'expires_at') ?? (expiresIn === undefined ? '' : new Date(session.deps.now() + expiresIn * 1000).toISOString())
  // The answer has no audience field: the granted one is the JWT's own `aud` (its claims are not secret).
  const aud = decodeClaims(accessToken).aud
  const audience = aud === undefined ? undefined : audienceText({ aud }, '') || undefined
  return { accessToken, expiresAt, expiresIn, scope: str(json, 'scope'), audience, agentId: str(json, 'agent_id') }
}

export interface Explanation {
  allowed: boolean
  policyId?: string
  reason?: string
  /** The server's code for the refusal, when it gives one. */
  code?: string
  /** The claim that differs from the closest policy, when the server names it. */
  claim?: string
  /** What an allowed exchange would grant, when the server says. */
  scope?: string
  audience?: string
  expiresIn?: number
}

/** POST /api/v1/oidc/explain: which policy would match, or why none does; mints nothing. */
export async function explain(session: Session, tokens: IdTokenSource, request: ExchangeRequest): Promise<Explanation> {
  const url = endpoint(request.apiUrl, 'api/v1/oidc/explain')
  const { json } = await session.postJson({
    what: `asking ${url} whether the exchange would be allowed`,
    url,
    build: async () => ({ body: exchangeBody((await tokens.get()).value, request) })
  })
  if (typeof json.allowed !== 'boolean') throw new ActionError('invalid_response', `${url} answered without 'allowed'`)
  // Only ever printed (log, error message, summary): neutralised as they are read.
  const shown = (text: string | undefined): string | undefined => (text === undefined ? undefined : untrusted(session.secrets.scrub(text)))
  return {
    allowed: json.allowed,
    policyId: shown(str(json, 'policyId')),
    reason: shown(str(json, 'reason')),
    code: shown(str(json, 'code') ?? str(json, 'error')),
    claim: shown(str(json, 'claim')),
    scope: shown(str(json, 'scope')),
    audience: shown(str(json, 'audience')),
    expiresIn: typeof json.expiresIn === 'number' && Number.isFinite(json.expiresIn) ? json.expiresIn : undefined
  }
}

export interface RegisteredAgent {
  agentId: string
  created: boolean
  /** When the agent stops getting tokens, as the server stored it (an existing agent keeps its own). */
  expiresAt?: string
}

/** POST /api/v1/agents with the bootstrap token; the idempotency key makes retries safe. */
export async function registerAgent(
  session: Session,
  apiUrl: URL,
  bearer: string,
  agent: { name: string; description?: string; expiresAt?: string },
  idempotencyKey: string
): Promise<RegisteredAgent> {
  const url = endpoint(apiUrl, 'api/v1/agents')
  const { status, json } = await session.postJson({
    what: `registering agent ${agent.name} at ${url}`,
    url,
    build: () =>
      Promise.resolve({
        headers: { authorization: `Bearer ${bearer}`, 'idempotency-key': idempotencyKey },
        body: {
          name: agent.name,
          ...(agent.description ? { description: agent.description } : {}),
          // Fixed before the first attempt: a retry with the same Idempotency-Key must send the same body.
          ...(agent.expiresAt ? { expiresAt: agent.expiresAt } : {})
        }
      })
  })
  const agentId = str(json, 'agentId')
  if (!agentId) throw new ActionError('invalid_response', `${url} answered ${status} without an agentId`)
  const created = typeof json.created === 'boolean' ? json.created : status === 201
  return { agentId, created, expiresAt: str(json, 'expiresAt') }
}

/** POST /api/v1/oauth/revoke (RFC 7009). */
export async function revokeToken(session: Session, apiUrl: URL, token: string, policy: RetryPolicy): Promise<void> {
  const url = endpoint(apiUrl, 'api/v1/oauth/revoke')
  await session.postJson({ what: `revoking the access token at ${url}`, url, build: () => Promise.resolve({ body: { token } }) }, policy)
}
