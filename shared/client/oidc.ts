/**
 * The GitHub OIDC token: minted with the action's audience by the runner's token endpoint,
 * masked the moment it exists, retried like any request, and minted again when a retry
 * comes after a long wait (the server refuses tokens whose `iat` is more than a few minutes
 * old). The request is the one `core.getIDToken` makes (GET `ACTIONS_ID_TOKEN_REQUEST_URL`
 * + `&audience=`, bearer `ACTIONS_ID_TOKEN_REQUEST_TOKEN`, answer `{"value": "<jwt>"}`), sent
 * through the action's own transport (http.ts): a timeout per attempt, no redirects, the
 * proxy settings honoured, and no dependency on a core that can mint tokens (stand-ins for
 * the runner such as GitHub's local-action have none).
 */
import { DEBUG_CLAIMS, decodeClaims, type TokenClaims } from './claims'
import type { ActionCore } from './core'
import { ActionError, doing } from './errors'
import type { HttpResponse, HttpTransport } from './http'
import type { Env } from './inputs'
import { retrying, type RetryClock, type RetryPolicy } from './retry'
import type { SecretRegistry } from './secrets'
import { untrusted } from './untrusted-text'

/** A token older than this (by our clock) is replaced before the next request. */
export const TOKEN_REUSE_MS = 120_000

export interface IdToken {
  value: string
  claims: TokenClaims
}

export interface IdTokenDeps {
  core: ActionCore
  http: HttpTransport
  env: Env
  clock: RetryClock
  secrets: SecretRegistry
}

/** The runner's token endpoint and its bearer; throws the permission hint when the runner gave the job none. */
export function idTokenEndpoint(env: Env): { requestUrl: string; requestToken: string } {
  const { ACTIONS_ID_TOKEN_REQUEST_URL: requestUrl, ACTIONS_ID_TOKEN_REQUEST_TOKEN: requestToken } = env
  if (requestUrl && requestToken) return { requestUrl, requestToken }
  throw new ActionError('missing_id_token_permission', 'this job cannot request a GitHub OIDC token (ACTIONS_ID_TOKEN_REQUEST_URL is not set)')
}

/** The URL core.getIDToken asks: the runner's URL (it already has a query) plus `&audience=`. */
export function idTokenUrl(requestUrl: string, audience: string): string {
  return `${requestUrl}&audience=${encodeURIComponent(audience)}`
}

const MAX_ENDPOINT_MESSAGE = 200

/** The endpoint's own words about a failure ({"message": ...} like GitHub's), safe to print. */
function endpointSaid(body: string): string {
  let message: unknown
  try {
    message = (JSON.parse(body) as { message?: unknown } | null)?.message
  } catch {
    message = undefined
  }
  return typeof message === 'string' && message ? ` (${untrusted(message.replace(/\s+/g, ' ').trim().slice(0, MAX_ENDPOINT_MESSAGE))})` : ''
}

/**
 * The token in the endpoint's answer, or the failure: 429 and any 5xx are retryable (it is a
 * GET), any other status or an answer without a token is final.
 */
function readIdToken(response: HttpResponse): string {
  const { status, body } = response
  if (status >= 200 && status < 300) {
    let value: unknown
    try {
      value = (JSON.parse(body) as { value?: unknown } | null)?.value
    } catch {
      value = undefined
    }
    if (typeof value === 'string' && value) return value
    throw new ActionError('id_token_unavailable', `the runner's OIDC token endpoint answered ${status} without a token`, { status })
  }
  throw new ActionError('id_token_unavailable', `the runner's OIDC token endpoint failed with ${status}${endpointSaid(body)}`, {
    status,
    retryable: status === 429 || status >= 500
  })
}

/** A transport failure (http.ts's networkError) of the token request, said as one of the endpoint. */
function unreachableEndpoint(error: unknown, timeoutMs: number): ActionError {
  if (error instanceof ActionError && error.code === 'timeout') {
    return new ActionError('id_token_unavailable', `the runner's OIDC token endpoint did not answer within ${Math.round(timeoutMs / 1000)} s`, {
      cause: error,
      retryable: true
    })
  }
  const text = error instanceof Error ? error.message : String(error)
  const retryable = error instanceof ActionError ? error.retryable : true
  return new ActionError('id_token_unavailable', `the runner's OIDC token endpoint failed: ${untrusted(text)}`, { cause: error, retryable })
}

export class IdTokenSource {
  private current?: { token: IdToken; mintedAt: number }

  constructor(
    private readonly deps: IdTokenDeps,
    readonly audience: string,
    /** Called per mint: the run's remaining budget shrinks. */
    private readonly policy: () => RetryPolicy
  ) {}

  /** Claims of the latest token (empty before the first mint). */
  get claims(): TokenClaims {
    return this.current?.token.claims ?? {}
  }

  /** A token young enough to be accepted; mints (with retries) when needed. */
  async get(): Promise<IdToken> {
    const { clock } = this.deps
    if (this.current && clock.now() - this.current.mintedAt < TOKEN_REUSE_MS) return this.current.token
    const token = await this.mint()
    this.current = { token, mintedAt: clock.now() }
    return token
  }

  private mint(): Promise<IdToken> {
    return doing(`requesting the GitHub OIDC token (audience ${this.audience})`, () => this.mintOnce())
  }

  private async mintOnce(): Promise<IdToken> {
    const { core, http, env, clock, secrets } = this.deps
    const { requestUrl, requestToken } = idTokenEndpoint(env)
    const url = idTokenUrl(requestUrl, this.audience)
    const value = await retrying(
      'requesting the GitHub OIDC token',
      this.policy(),
      clock,
      (line) => core.info(secrets.scrub(line)),
      async (attempt) => {
        let response: HttpResponse
        try {
          response = await http({
            method: 'GET',
            url,
            headers: { accept: 'application/json', authorization: `Bearer ${requestToken}` },
            timeoutMs: attempt.timeoutMs
          })
        } catch (error) {
          throw unreachableEndpoint(error, attempt.timeoutMs)
        }
        // Masked before anything else can print it.
        return secrets.add(readIdToken(response))
      }
    )
    const claims = decodeClaims(value)
    core.debug(`GitHub OIDC token claims (write the trust policy from these):`)
    for (const name of DEBUG_CLAIMS) {
      const claim = claims[name as keyof TokenClaims]
      if (claim !== undefined) core.debug(`  ${name}: ${secrets.scrub(Array.isArray(claim) ? claim.join(', ') : String(claim))}`)
    }
    return { value, claims }
  }
}
