/**
 * The server's one error model. Routes throw an ApiError (a stable code and the HTTP status),
 * or let a refusal of the layers below propagate: a refused OIDC token (OidcTokenError) or
 * a refused bearer token (TokenRejected). `refusalOf()` maps all of them, once, and the error
 * handler (app.ts) renders the result in the envelope of the route's protocol:
 * Protocol A `{error, error_description}`, Protocol B `{success: false, error, code}`.
 */
import { TokenRejected } from './tokens'
import { isOidcTokenError } from './trust'

export type ApiErrorCode =
  | 'invalid_request'
  | 'invalid_token'
  | 'invalid_client'
  | 'invalid_grant'
  | 'unsupported_grant_type'
  | 'invalid_scope'
  | 'invalid_target'
  | 'insufficient_scope'
  | 'trust_policy_violation'
  | 'branch_not_permitted'
  | 'event_not_permitted'
  | 'agent_not_found'
  | 'agent_expired'
  | 'agent_exists'
  | 'agent_limit_reached'
  | 'not_found'
  | 'forbidden'
  | 'idempotency_key_reused'
  | 'idempotency_key_in_use'
  | 'rate_limited'
  | 'temporarily_unavailable'
  | 'server_error'
  | 'sql_error'
  | 'statement_timeout'
  | 'result_too_large'
  | 'quota_exceeded'
  | 'workspace_unavailable'
  | 'workspace_disabled'

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: ApiErrorCode,
    message: string,
    readonly headers: Record<string, string> = {},
    options?: { cause?: unknown; fields?: Record<string, unknown> }
  ) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause })
    this.name = this.constructor.name
    this.fields = options?.fields ?? {}
  }

  /** Extra members of Protocol B's envelope (the workspace SQL API's `sqlstate`, `statement`). */
  readonly fields: Record<string, unknown>
}

export const badRequest = (message: string): ApiError => new ApiError(400, 'invalid_request', message)
export const unauthorized = (message: string): ApiError => new ApiError(401, 'invalid_token', message, { 'www-authenticate': 'Bearer error="invalid_token"' })
export const notFound = (message: string): ApiError => new ApiError(404, 'not_found', message)

/** Protocol B lives under /v1/; everything else speaks Protocol A. */
export function isProtocolB(url: string): boolean {
  return url.startsWith('/v1/')
}

export function envelope(url: string, code: string, message: string, fields: Record<string, unknown> = {}): Record<string, unknown> {
  return isProtocolB(url) ? { success: false, error: message, code, ...fields } : { error: code, error_description: message }
}

/**
 * The ApiError a thrown error stands for, or undefined when it is no refusal (a bug or an
 * outage: the handler answers 500 and logs it).
 */
export function refusalOf(error: unknown, url: string): ApiError | undefined {
  if (error instanceof ApiError) return error
  if (error instanceof TokenRejected) {
    const why = error.reason === 'expired' ? 'has expired' : error.reason === 'revoked' ? 'was revoked' : 'is not valid'
    return isProtocolB(url)
      ? unauthorized(`the workspace token ${why}; run federate again for a fresh one`)
      : unauthorized(`the bearer token ${why}; exchange a fresh OIDC token`)
  }
  if (isOidcTokenError(error)) {
    if (error.retryable) {
      // Seconds until a retry can succeed (the next JWKS refetch or load attempt), at least 1.
      const after = error.retryAfterSeconds
      const retryAfter = typeof after === 'number' && Number.isFinite(after) ? Math.max(1, Math.ceil(after)) : 5
      return new ApiError(503, 'temporarily_unavailable', error.message, { 'retry-after': String(retryAfter) }, { cause: error })
    }
    if (error.code === 'invalid_request') return new ApiError(400, 'invalid_request', error.message, {}, { cause: error })
    return new ApiError(401, 'invalid_token', error.message, { 'www-authenticate': 'Bearer error="invalid_token"' }, { cause: error })
  }
  return undefined
}
