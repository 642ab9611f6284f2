/**
 * Verifies GitHub Actions OIDC tokens (docs/protocol.md, "How a GitHub OIDC token is validated").
 *
 * Order of checks, cheapest and least trusting first: shape and size (400 invalid_request),
 * then, from the still unverified header and payload, the issuer (our own tokens first, then
 * the pinned list) and `alg` (exactly RS256), then the key by `kid` from the issuer's
 * discovered JWKS (never from the header's jwk/jku/x5u/x5c), then the signature (checked by
 * node:crypto, rs256.ts) and jose's time and claim checks, then our stricter audience rule and
 * the GitHub claims (all 401 invalid_token, but 400 for a NUL or lone surrogate in a claim).
 *
 * Key-fetch failures (issuer down, timeout, bad document) are `invalid_token` with
 * `retryable: true`: the server may answer 503 for those so that clients retry.
 */
import { createHash } from 'node:crypto'
import type { KeyObject } from 'node:crypto'
import { decodeJwt, decodeProtectedHeader, errors, type JWTPayload } from 'jose'
import { assertGitHubClaims, type GitHubTokenClaims } from './claims'
import { OidcTokenError, quote } from './errors'
import { IssuerKeys } from './issuer-keys'
import { issuerProblem } from './issuer-url'
import { verifyRs256Jwt } from './rs256'

export type { GitHubTokenClaims } from './claims'
export { OidcTokenError, type OidcTokenErrorCode } from './errors'

export interface VerifierOptions {
  /** Trusted issuers, compared to `iss` as exact strings. https, or http on loopback only. */
  issuers: string[]
  /** Issuers whose tokens are always refused: the server's own PUBLIC_URL. */
  rejectIssuers?: string[]
  /** Seconds of clock skew allowed on exp, nbf and iat. Default 60. */
  clockToleranceSeconds?: number
  /** A token issued longer ago than this (+ tolerance) is refused even if not expired. Default 360. */
  maxTokenAgeSeconds?: number
  /** Current time in ms (tests). Default Date.now. */
  now?: () => number
  /** An unknown kid refetches the JWKS at most this often. Default 60000. */
  jwksMinRefetchIntervalMs?: number
  /** Cached keys older than this are refreshed on the next request. Default 600000 (10 min). */
  jwksMaxAgeMs?: number
  /** Timeout of each discovery or JWKS request. Default 5000. */
  fetchTimeoutMs?: number
  /** While an issuer's keys have never loaded, failed loads are retried at most this often. Default 5000. */
  fetchFailureRetryMs?: number
  /** Longest token accepted (GitHub's are 1-2 KB). Default 16384 characters. */
  maxTokenLength?: number
}

export interface VerifiedToken {
  claims: GitHubTokenClaims
  /** Hex SHA-256 of the token: what the audit log keeps instead of the token. */
  tokenSha256: string
}

/** Hex SHA-256 of a token, for audit rows and logs. */
export function tokenSha256(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex')
}

/** Three base64url segments; the signature may be empty so that alg "none" is reported as a bad algorithm (401). */
const JWT_SHAPE = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/

const withoutTrailingSlash = (url: string): string => url.replace(/\/+$/, '')

export class OidcVerifier {
  private readonly issuers: ReadonlySet<string>
  private readonly rejectIssuers: ReadonlySet<string>
  private readonly keys = new Map<string, IssuerKeys>()
  private readonly now: () => number
  private readonly tolerance: number
  private readonly maxTokenAge: number
  private readonly maxTokenLength: number

  /** @throws Error when an issuer is not acceptable (operator configuration error). */
  constructor(options: VerifierOptions) {
    if (options.issuers.length === 0) throw new Error('at least one trusted OIDC issuer is required')
    for (const issuer of options.issuers) {
      const problem = issuerProblem(issuer)
      if (problem) throw new Error(problem)
    }
    this.rejectIssuers = new Set((options.rejectIssuers ?? []).map(withoutTrailingSlash))
    for (const issuer of options.issuers) {
      if (this.rejectIssuers.has(withoutTrailingSlash(issuer))) {
        throw new Error(`issuer ${JSON.stringify(issuer)} is this server's own URL; its tokens can never be trusted as OIDC tokens`)
      }
    }
    this.issuers = new Set(options.issuers)
    this.now = options.now ?? Date.now
    this.tolerance = options.clockToleranceSeconds ?? 60
    this.maxTokenAge = options.maxTokenAgeSeconds ?? 360
    this.maxTokenLength = options.maxTokenLength ?? 16384
    for (const issuer of options.issuers) {
      this.keys.set(
        issuer,
        new IssuerKeys(issuer, {
          now: this.now,
          minRefetchIntervalMs: options.jwksMinRefetchIntervalMs ?? 60_000,
          maxCacheAgeMs: options.jwksMaxAgeMs ?? 600_000,
          fetchTimeoutMs: options.fetchTimeoutMs ?? 5_000,
          failureRetryMs: options.fetchFailureRetryMs ?? 5_000,
          maxDocumentBytes: 256 * 1024
        })
      )
    }
  }

  /**
   * Verifies `token` for `audience`.
   * @throws OidcTokenError invalid_request (not a JWT at all) or invalid_token (anything else)
   */
  async verify(token: string, audience: string): Promise<VerifiedToken> {
    // A caller bug, not a client error: an empty expected audience would match an empty aud.
    if (typeof audience !== 'string' || audience.length === 0) throw new TypeError('OidcVerifier.verify needs the expected audience')
    if (typeof token !== 'string' || token.length === 0) {
      throw new OidcTokenError('invalid_request', 'the OIDC token is missing')
    }
    if (token.length > this.maxTokenLength) {
      throw new OidcTokenError('invalid_request', `the OIDC token is longer than ${this.maxTokenLength} characters; a GitHub OIDC token is about 1-2 KB`)
    }
    if (!JWT_SHAPE.test(token)) {
      throw new OidcTokenError('invalid_request', 'the OIDC token is not a JWT (three base64url segments separated by dots)')
    }
    const { header, payload } = decodeUnverified(token)

    const issuer = payload.iss
    if (typeof issuer !== 'string' || issuer.length === 0) {
      throw new OidcTokenError('invalid_token', 'token has no "iss" claim (a string)', { claim: 'iss' })
    }
    if (this.rejectIssuers.has(withoutTrailingSlash(issuer))) {
      throw new OidcTokenError('invalid_token', "this token was issued by this server (an access token), not by GitHub Actions; send the workflow's OIDC token instead", {
        claim: 'iss'
      })
    }
    const keys = this.keys.get(issuer)
    if (!keys) {
      throw new OidcTokenError('invalid_token', `token issuer ${quote(issuer)} is not trusted by this server (trusted: ${[...this.issuers].join(', ')})`, { claim: 'iss' })
    }
    if (header.alg !== 'RS256') {
      throw new OidcTokenError('invalid_token', `token algorithm ${quote(header.alg, 40)} is not allowed; only RS256 is`, { claim: 'alg' })
    }
    if (typeof header.kid !== 'string' || header.kid.length === 0) {
      throw new OidcTokenError('invalid_token', 'token header has no key id (kid)', { claim: 'kid' })
    }
    const key = await keys.key(header.kid)
    const verified = this.checkSignatureAndTimes(token, header, key, issuer, audience, header.kid)
    assertExactAudience(verified.aud, audience)
    return { claims: assertGitHubClaims(verified), tokenSha256: tokenSha256(token) }
  }

  private checkSignatureAndTimes(token: string, header: Record<string, unknown>, key: KeyObject, issuer: string, audience: string, kid: string): JWTPayload {
    const nowMs = this.now()
    try {
      // A resolved key, not a key function: nothing is taken from the header but alg.
      return verifyRs256Jwt(token, header, key, {
        issuer,
        audience,
        requiredClaims: ['exp', 'iat', 'nbf'],
        clockTolerance: this.tolerance,
        maxTokenAge: this.maxTokenAge,
        currentDate: new Date(nowMs)
      })
    } catch (error) {
      throw this.explainJoseError(error, { issuer, audience, kid, nowMs })
    }
  }

  private explainJoseError(error: unknown, ctx: { issuer: string; audience: string; kid: string; nowMs: number }): OidcTokenError {
    const fail = (message: string, claim?: string): OidcTokenError => new OidcTokenError('invalid_token', message, { cause: error, ...(claim ? { claim } : {}) })
    const now = new Date(ctx.nowMs).toISOString()
    const tolerance = `${this.tolerance} s tolerance`
    if (error instanceof errors.JWSSignatureVerificationFailed) {
      return fail(`token signature does not verify with key ${quote(ctx.kid, 80)} of issuer ${quote(ctx.issuer)}`, 'signature')
    }
    if (error instanceof errors.JOSEAlgNotAllowed) return fail('token algorithm is not allowed; only RS256 is', 'alg')
    if (error instanceof errors.JWTClaimValidationFailed || error instanceof errors.JWTExpired) {
      const { claim, reason, payload } = error
      const at = (name: string): string => {
        const value = payload[name]
        return typeof value === 'number' && Number.isFinite(value) ? new Date(value * 1000).toISOString() : quote(value, 40)
      }
      if (reason === 'missing') return fail(`token has no "${claim}" claim`, claim)
      switch (claim) {
        case 'exp':
          return fail(`token expired at ${at('exp')} (server time ${now}, ${tolerance}); request a fresh OIDC token right before the exchange`, 'exp')
        case 'nbf':
          return fail(`token is not valid before ${at('nbf')} (server time ${now}, ${tolerance}); check the clocks`, 'nbf')
        case 'iat':
          return error instanceof errors.JWTExpired
            ? fail(
                `token was issued at ${at('iat')}, more than ${this.maxTokenAge} s before server time ${now} (${tolerance}); request a fresh OIDC token right before the exchange`,
                'iat'
              )
            : fail(`token issue time ${at('iat')} is in the future (server time ${now}, ${tolerance}); check the clocks`, 'iat')
        case 'aud':
          return audienceError(payload.aud, ctx.audience, error)
        case 'iss':
          return fail(`token issuer ${quote(payload.iss)} is not trusted by this server`, 'iss')
        default:
          return fail(`token claim "${claim}" is invalid (${reason})`, claim)
      }
    }
    if (error instanceof errors.JOSEError) return fail(`token is malformed (${error.message})`)
    return fail('token could not be verified')
  }
}

function decodeUnverified(token: string): { header: Record<string, unknown>; payload: JWTPayload } {
  try {
    return { header: decodeProtectedHeader(token), payload: decodeJwt(token) }
  } catch (error) {
    throw new OidcTokenError('invalid_token', 'the OIDC token header or payload is not base64url-encoded JSON', { cause: error })
  }
}

/** GitHub issues one audience; an array is accepted only when every member is the expected one. */
function assertExactAudience(aud: unknown, audience: string): void {
  const exact = aud === audience || (Array.isArray(aud) && aud.length > 0 && aud.every((member) => member === audience))
  if (!exact) throw audienceError(aud, audience)
}

function audienceError(aud: unknown, audience: string, cause?: unknown): OidcTokenError {
  return new OidcTokenError('invalid_token', `token audience ${quote(aud)} is not ${quote(audience)}; request the OIDC token with audience ${quote(audience)}`, {
    claim: 'aud',
    ...(cause === undefined ? {} : { cause })
  })
}
