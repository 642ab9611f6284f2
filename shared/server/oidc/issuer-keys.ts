import { createPublicKey, type KeyObject } from 'node:crypto'
import type { JWK } from 'jose'
import { OidcTokenError, quote } from './errors'
import { fetchJson } from './fetch-json'
import { discoveryUrl, isSameOrigin } from './issuer-url'

export interface IssuerKeysOptions {
  now: () => number
  /** An unknown kid triggers a refetch at most this often. */
  minRefetchIntervalMs: number
  /** Keys older than this are refreshed on the next request (stale keys are kept if that fails). */
  maxCacheAgeMs: number
  fetchTimeoutMs: number
  /** Before the first successful load, failed fetches are retried at most this often. */
  failureRetryMs: number
  maxDocumentBytes: number
}

/** RSA keys shorter than this are not accepted from a JWKS (GitHub uses 2048 bits). */
const MIN_RSA_MODULUS_BYTES = 256

/**
 * The signing keys of one pinned issuer, found by OIDC discovery and cached. Keys are
 * fetched once, refreshed when old, and refetched for an unknown kid at most once per
 * `minRefetchIntervalMs`; concurrent requests share one fetch. Keys come only from here,
 * never from the token's header (jwk, jku, x5u, x5c).
 */
export class IssuerKeys {
  private keys = new Map<string, KeyObject>()
  private loadedAt: number | undefined
  private lastAttemptAt: number | undefined
  private lastFailure: OidcTokenError | undefined
  private inflight: Promise<void> | undefined
  /** How many discovery + JWKS loads were attempted (for tests and metrics). */
  loads = 0

  constructor(
    readonly issuer: string,
    private readonly options: IssuerKeysOptions
  ) {}

  /**
   * The key for `kid`, or an OidcTokenError: keys unavailable (retryable); kid unknown after
   * a fetch of the JWKS that this call waited for (not retryable); kid unknown while the
   * refetch is held back by `minRefetchIntervalMs` (retryable, with the seconds until the
   * next refetch is allowed: a key the issuer has just added must not be refused for a
   * minute because someone spent the refetch with a made-up kid).
   */
  async key(kid: string): Promise<KeyObject> {
    const { now, maxCacheAgeMs, minRefetchIntervalMs, failureRetryMs } = this.options
    // True once this call has waited for a successful load: a kid missing after it is not the issuer's.
    let fetched = false
    if (this.loadedAt === undefined) {
      if (this.lastFailure && this.lastAttemptAt !== undefined && now() - this.lastAttemptAt < failureRetryMs) {
        throw this.lastFailure
      }
      await this.refresh()
      fetched = true
    } else if (now() - this.loadedAt >= maxCacheAgeMs && now() - (this.lastAttemptAt ?? 0) >= minRefetchIntervalMs) {
      // Old keys: try to refresh (GitHub may have withdrawn one), keep serving the old set if the
      // issuer is down, and try again only after the refetch interval, not on every request.
      fetched = await this.refresh().then(
        () => true,
        () => false
      )
    }
    let key = this.keys.get(kid)
    if (!key && !fetched) {
      if (this.inflight) {
        // Another request's load is under way: its answer is as fresh as a refetch of our own.
        await this.inflight
        fetched = true
      } else if (now() - (this.lastAttemptAt ?? 0) >= minRefetchIntervalMs) {
        await this.refresh()
        fetched = true
      }
      key = this.keys.get(kid)
    }
    if (key) return key
    if (fetched) {
      throw new OidcTokenError('invalid_token', `token key id (kid) ${quote(kid, 80)} is not in the JWKS of issuer ${quote(this.issuer)}`, { claim: 'kid' })
    }
    const waitMs = (this.lastAttemptAt ?? 0) + minRefetchIntervalMs - now()
    const seconds = Math.max(1, Math.ceil(waitMs / 1000))
    throw new OidcTokenError(
      'invalid_token',
      `token key id (kid) ${quote(kid, 80)} is not in the JWKS of issuer ${quote(this.issuer)} as last fetched; the JWKS is fetched again at most every ${Math.ceil(minRefetchIntervalMs / 1000)} s (for a key the issuer has just added): retry in ${seconds} s`,
      { claim: 'kid', retryable: true, retryAfterSeconds: seconds }
    )
  }

  private refresh(): Promise<void> {
    this.inflight ??= this.load().finally(() => {
      this.inflight = undefined
    })
    return this.inflight
  }

  private async load(): Promise<void> {
    const { now, fetchTimeoutMs, maxDocumentBytes } = this.options
    this.lastAttemptAt = now()
    this.loads++
    try {
      const discovery = await fetchJson(discoveryUrl(this.issuer), fetchTimeoutMs, maxDocumentBytes)
      const jwksUri = this.jwksUriOf(discovery)
      const keys = await importKeys(await fetchJson(jwksUri, fetchTimeoutMs, maxDocumentBytes), jwksUri)
      this.keys = keys
      this.loadedAt = now()
      this.lastFailure = undefined
    } catch (error) {
      this.lastFailure = new OidcTokenError(
        'invalid_token',
        `could not load the signing keys of issuer ${quote(this.issuer)} (${(error as Error).message}); try again later`,
        {
          cause: error,
          retryable: true,
          // The next attempt: the failure delay before any load succeeded, else the refetch interval.
          retryAfterSeconds: (this.loadedAt === undefined ? this.options.failureRetryMs : this.options.minRefetchIntervalMs) / 1000
        }
      )
      throw this.lastFailure
    }
  }

  private jwksUriOf(discovery: unknown): string {
    const doc = (discovery ?? {}) as { issuer?: unknown; jwks_uri?: unknown }
    if (doc.issuer !== this.issuer) {
      throw new Error(`the discovery document names issuer ${quote(doc.issuer)}, not ${quote(this.issuer)}`)
    }
    if (typeof doc.jwks_uri !== 'string') throw new Error('the discovery document has no jwks_uri')
    if (!isSameOrigin(doc.jwks_uri, this.issuer)) {
      throw new Error(`jwks_uri ${quote(doc.jwks_uri)} is not on the issuer's own origin`)
    }
    return doc.jwks_uri
  }
}

/** Imports the usable RS256 signing keys of a JWKS, by kid; other keys are skipped. */
async function importKeys(jwks: unknown, jwksUri: string): Promise<Map<string, KeyObject>> {
  const list = (jwks as { keys?: unknown } | null)?.keys
  if (!Array.isArray(list)) throw new Error(`${jwksUri} is not a JWKS (no "keys" array)`)
  const keys = new Map<string, KeyObject>()
  for (const candidate of list as JWK[]) {
    if (!isUsableRsaKey(candidate) || keys.has(candidate.kid)) continue
    try {
      // A node:crypto key: rs256.ts checks signatures with node:crypto (see there why).
      keys.set(candidate.kid, createPublicKey({ key: { kty: 'RSA', n: candidate.n, e: candidate.e }, format: 'jwk' }))
    } catch {
      // A key we cannot import cannot have signed a token we accept; skip it.
    }
  }
  if (keys.size === 0) throw new Error(`${jwksUri} has no usable RS256 key`)
  return keys
}

function isUsableRsaKey(jwk: JWK): jwk is JWK & { kid: string; n: string; e: string } {
  return (
    typeof jwk === 'object' &&
    jwk !== null &&
    jwk.kty === 'RSA' &&
    typeof jwk.kid === 'string' &&
    jwk.kid.length > 0 &&
    (jwk.use === undefined || jwk.use === 'sig') &&
    (jwk.alg === undefined || jwk.alg === 'RS256') &&
    typeof jwk.n === 'string' &&
    typeof jwk.e === 'string' &&
    Buffer.from(jwk.n, 'base64url').length >= MIN_RSA_MODULUS_BYTES
  )
}
