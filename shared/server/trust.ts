/**
 * The one place the server imports the OIDC verifier and trust-policy decisions from
 * (shared/server/oidc/, maintained separately), so routes do not depend on its layout.
 */
export { OidcVerifier, tokenSha256 } from './oidc/verifier'
export type { GitHubTokenClaims, VerifiedToken, VerifierOptions } from './oidc/verifier'
export { decide, federateDecision } from './oidc/policy'
export { validatePolicyInput } from './oidc/policy-input'
export type { PolicyDecision, TrustPolicy } from './oidc/policy'

/** Duck-typed so it works whichever module defines the class. */
export interface OidcTokenErrorLike {
  name: 'OidcTokenError'
  code: 'invalid_request' | 'invalid_token'
  message: string
  retryable?: boolean
  /** With `retryable`: seconds until a retry can succeed. */
  retryAfterSeconds?: number
  claim?: string
}

export function isOidcTokenError(error: unknown): error is OidcTokenErrorLike {
  return error instanceof Error && error.name === 'OidcTokenError' && typeof (error as { code?: unknown }).code === 'string'
}
