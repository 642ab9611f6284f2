/**
 * Errors the routes throw, with a stable code and the HTTP status. The error handler
 * (app.ts) renders them in the envelope of the route's protocol:
 * Protocol A `{error, error_description}`, Protocol B `{success: false, error, code}`.
 */
export type ApiErrorCode =
  | 'invalid_request'
  | 'invalid_token'
  | 'insufficient_scope'
  | 'trust_policy_violation'
  | 'branch_not_permitted'
  | 'event_not_permitted'
  | 'agent_not_found'
  | 'agent_exists'
  | 'agent_limit_reached'
  | 'not_found'
  | 'forbidden'
  | 'idempotency_key_reused'
  | 'idempotency_key_in_use'
  | 'rate_limited'
  | 'temporarily_unavailable'
  | 'server_error'

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: ApiErrorCode,
    message: string,
    readonly headers: Record<string, string> = {},
    options?: { cause?: unknown }
  ) {
    super(message, options)
    this.name = this.constructor.name
  }
}

export const badRequest = (message: string): ApiError => new ApiError(400, 'invalid_request', message)
export const unauthorized = (message: string): ApiError =>
  new ApiError(401, 'invalid_token', message, { 'www-authenticate': 'Bearer error="invalid_token"' })
export const notFound = (message: string): ApiError => new ApiError(404, 'not_found', message)

/** Protocol B lives under /v1/; everything else speaks Protocol A. */
export function isProtocolB(url: string): boolean {
  return url.startsWith('/v1/')
}

export function envelope(url: string, code: string, message: string): Record<string, unknown> {
  return isProtocolB(url) ? { success: false, error: message, code } : { error: code, error_description: message }
}
