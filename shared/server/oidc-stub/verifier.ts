/**
 * TEMPORARY stand-in for shared/server/oidc/verifier.ts (written by another helper). Same
 * interface, minimal checks. Deleted once the real module is committed.
 */
import { createHash } from 'node:crypto'
import { createRemoteJWKSet, jwtVerify, type JWTVerifyGetKey } from 'jose'

export interface GitHubTokenClaims {
  iss: string
  sub: string
  aud: string | string[]
  iat: number
  exp: number
  nbf: number
  repository: string
  repository_id: string
  repository_owner: string
  repository_owner_id: string
  ref: string
  event_name: string
  environment?: string
  job_workflow_ref: string
  [claim: string]: unknown
}

export interface VerifierOptions {
  issuers: string[]
  rejectIssuers?: string[]
  clockToleranceSeconds?: number
  maxTokenAgeSeconds?: number
  now?: () => number
  jwksMinRefetchIntervalMs?: number
}

export interface VerifiedToken {
  claims: GitHubTokenClaims
  tokenSha256: string
}

export class OidcTokenError extends Error {
  override readonly name = 'OidcTokenError'
  constructor(
    readonly code: 'invalid_request' | 'invalid_token',
    message: string
  ) {
    super(message)
  }
}

export function tokenSha256(token: string): string {
  return createHash('sha256').update(token).digest('hex')
}

export class OidcVerifier {
  private readonly jwks = new Map<string, JWTVerifyGetKey>()
  constructor(private readonly options: VerifierOptions) {}

  async verify(token: string, audience: string): Promise<VerifiedToken> {
    if (!/^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/.test(token)) {
      throw new OidcTokenError('invalid_request', 'the token is not a JWT (three base64url segments)')
    }
    let iss: unknown
    try {
      iss = JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString('utf8')).iss
    } catch {
      throw new OidcTokenError('invalid_token', 'the token payload is not JSON')
    }
    if (typeof iss !== 'string' || !this.options.issuers.includes(iss) || this.options.rejectIssuers?.includes(iss)) {
      throw new OidcTokenError('invalid_token', 'the token issuer is not trusted')
    }
    let keys = this.jwks.get(iss)
    if (!keys) {
      const discovery = (await (await fetch(`${iss}/.well-known/openid-configuration`)).json()) as { jwks_uri: string }
      keys = createRemoteJWKSet(new URL(discovery.jwks_uri))
      this.jwks.set(iss, keys)
    }
    try {
      const { payload } = await jwtVerify(token, keys, {
        issuer: iss,
        audience,
        algorithms: ['RS256'],
        requiredClaims: ['exp', 'iat', 'nbf'],
        clockTolerance: this.options.clockToleranceSeconds ?? 60,
        maxTokenAge: (this.options.maxTokenAgeSeconds ?? 360) + 60,
        currentDate: this.options.now ? new Date(this.options.now()) : undefined
      })
      return { claims: payload as unknown as GitHubTokenClaims, tokenSha256: tokenSha256(token) }
    } catch (error) {
      throw new OidcTokenError('invalid_token', `token refused: ${(error as Error).message}`)
    }
  }
}
