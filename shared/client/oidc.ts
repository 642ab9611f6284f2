/**
 * The GitHub OIDC token: minted with the action's audience through the runner
 * (`core.getIDToken`), masked the moment it exists, retried like any request, and minted
 * again when a retry comes after a long wait (the server refuses tokens whose `iat` is
 * more than a few minutes old).
 */
import { DEBUG_CLAIMS, decodeClaims, type TokenClaims } from './claims'
import type { ActionCore } from './core'
import { ActionError, doing } from './errors'
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
  env: Env
  clock: RetryClock
  secrets: SecretRegistry
}

/** Throws the permission hint when the runner gave the job no way to ask for a token. */
export function assertIdTokenAvailable(env: Env): void {
  if (env.ACTIONS_ID_TOKEN_REQUEST_URL && env.ACTIONS_ID_TOKEN_REQUEST_TOKEN) return
  throw new ActionError('missing_id_token_permission', 'this job cannot request a GitHub OIDC token (ACTIONS_ID_TOKEN_REQUEST_URL is not set)')
}

/** Reads the status out of @actions/core's getIDToken error text ("Error Code : 500"). */
function idTokenFailure(error: unknown): ActionError {
  const text = error instanceof Error ? error.message : String(error)
  const status = Number(/Error Code\s*:\s*(\d{3})/.exec(text)?.[1]) || undefined
  const retryable = status === undefined || status === 429 || status >= 500
  const oneLine = untrusted(
    text
      .replace(/\s+/g, ' ')
      .replace(/^Error message: /, '')
      .trim()
  )
  return new ActionError('id_token_unavailable', `the runner's OIDC token endpoint failed: ${oneLine}`, { cause: error, status, retryable })
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
    const { core, env, clock, secrets } = this.deps
    assertIdTokenAvailable(env)
    const value = await retrying(
      'requesting the GitHub OIDC token',
      this.policy(),
      clock,
      (line) => core.info(line),
      async (attempt) => {
        let timer: NodeJS.Timeout | undefined
        // getIDToken has no timeout of its own (its HTTP client waits up to 3 minutes, and its
        // readBody() never settles when the answer is cut off). Not unref()'d: it keeps Node alive.
        const timeout = new Promise<never>((_, reject) => {
          timer = setTimeout(
            () => reject(new ActionError('timeout', `the runner's OIDC token endpoint did not answer within ${Math.round(attempt.timeoutMs / 1000)} s`, { retryable: true })),
            attempt.timeoutMs
          )
        })
        try {
          return await Promise.race([core.getIDToken(this.audience), timeout])
        } catch (error) {
          throw error instanceof ActionError ? error : idTokenFailure(error)
        } finally {
          clearTimeout(timer)
        }
      }
    )
    secrets.add(value)
    const claims = decodeClaims(value)
    core.debug(`GitHub OIDC token claims (write the trust policy from these):`)
    for (const name of DEBUG_CLAIMS) {
      const claim = claims[name as keyof TokenClaims]
      if (claim !== undefined) core.debug(`  ${name}: ${secrets.scrub(Array.isArray(claim) ? claim.join(', ') : String(claim))}`)
    }
    return { value, claims }
  }
}
