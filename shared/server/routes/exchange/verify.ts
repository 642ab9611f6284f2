/**
 * What the exchange, explain and federate share before their own decision: verify the
 * GitHub OIDC token for an audience (auditing refusals), and rate-limit per repository.
 */
import type { FastifyInstance } from 'fastify'
import { denied, type AuditAction } from '../../store/store'
import { ApiError } from '../../errors'
import { isOidcTokenError, tokenSha256, type GitHubTokenClaims, type VerifiedToken } from '../../trust'

/** Non-secret claims, for explain answers, summaries and the audit detail. */
export function publicClaims(claims: GitHubTokenClaims): Record<string, unknown> {
  const keep = [
    'iss',
    'sub',
    'aud',
    'repository',
    'repository_id',
    'repository_owner',
    'repository_owner_id',
    'ref',
    'ref_type',
    'event_name',
    'environment',
    'workflow',
    'workflow_ref',
    'job_workflow_ref',
    'actor',
    'run_id',
    'iat',
    'exp'
  ]
  const out: Record<string, unknown> = {}
  for (const key of keep) if (claims[key] !== undefined) out[key] = claims[key]
  return out
}

/**
 * Verifies an OIDC token for `audience`. A refusal is audited (with the token's SHA-256,
 * never the token) and rethrown; errors.ts maps it to 400/401 (503 when the issuer's keys
 * could not be fetched).
 */
export async function verifyOidc(app: FastifyInstance, token: string, audience: string, action: AuditAction): Promise<VerifiedToken> {
  try {
    return await app.verifier.verify(token, audience)
  } catch (error) {
    if (!isOidcTokenError(error)) throw error
    // Anyone can send these in bulk: the first of a kind is audited in full, repeats in aggregate.
    await app.denials.record({
      kind: `${action}|${error.code}|${error.claim ?? ''}`,
      action,
      detail: denied(error.code, error.message, { tokenSha256: tokenSha256(token) })
    })
    throw error // errors.ts maps it (400, 401, or 503 with Retry-After)
  }
}

/** One repository of one issuer, as a key of rate-limit buckets and Idempotency-Key scopes. */
export function repositoryKey(issuer: string, repositoryId: string): string {
  return `repo:${issuer}#${repositoryId}`
}

/** 429 with Retry-After when the repository spent its burst. */
export async function rateLimit(app: FastifyInstance, claims: GitHubTokenClaims, action: AuditAction, tokenHash: string): Promise<void> {
  const decision = await app.limiter.take(repositoryKey(claims.iss, claims.repository_id))
  if (decision.ok) return
  await app.denials.record({
    kind: `${action}|rate_limited|${repositoryKey(claims.iss, claims.repository_id)}`,
    action,
    repository: claims.repository,
    repositoryId: claims.repository_id,
    detail: denied('rate_limited', undefined, { tokenSha256: tokenHash })
  })
  throw new ApiError(429, 'rate_limited', `too many requests from ${claims.repository}; retry in ${decision.retryAfterSeconds} s`, {
    'retry-after': String(decision.retryAfterSeconds)
  })
}
