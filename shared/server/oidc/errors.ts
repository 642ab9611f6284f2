/** Why a GitHub OIDC token was refused. The server maps `invalid_request` to 400, `invalid_token` to 401. */
export type OidcTokenErrorCode = 'invalid_request' | 'invalid_token'

/**
 * A refused OIDC token. `message` is safe to send to the client: it names claims and values
 * (issuer, audience, times, key id) but never the token or any part of its signature.
 *
 * `retryable` is true when the token could not be checked yet: the issuer's discovery
 * document or JWKS could not be fetched (timeout, 5xx, bad document), or the token's key id
 * is not in the cached JWKS and the refetch is held back by the minimum refetch interval (a
 * key the issuer has just added). The code stays `invalid_token`, so a server that only
 * looks at `code` answers 401, and a server that wants to tell the client to retry may
 * answer 503 instead, with Retry-After `retryAfterSeconds`.
 */
export class OidcTokenError extends Error {
  override readonly name = 'OidcTokenError'
  readonly code: OidcTokenErrorCode
  readonly retryable: boolean
  /** When retryable: whole seconds (at least 1) until a retry can succeed, for Retry-After. */
  readonly retryAfterSeconds?: number
  /** The claim or header field that failed, when there is one (e.g. "aud", "exp", "alg", "kid"). */
  readonly claim?: string

  constructor(code: OidcTokenErrorCode, message: string, options: { cause?: unknown; retryable?: boolean; retryAfterSeconds?: number; claim?: string } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause })
    this.code = code
    this.retryable = options.retryable ?? false
    if (this.retryable && options.retryAfterSeconds !== undefined) {
      this.retryAfterSeconds = Math.max(1, Math.ceil(options.retryAfterSeconds))
    }
    if (options.claim !== undefined) this.claim = options.claim
  }
}

/** Quotes an untrusted value for an error message: JSON-escaped and cut short. */
export function quote(value: unknown, max = 120): string {
  const text = typeof value === 'string' ? value : (JSON.stringify(value) ?? String(value))
  const cut = text.length > max ? `${text.slice(0, max)}…` : text
  return JSON.stringify(cut)
}
