/**
 * Everything the routes need, built once per process from the configuration and an open
 * database, and passed into the app plugin (no module-level state).
 */
import type { ServerConfig } from './config'
import { SigningKeys } from './keys'
import { DatabaseRateLimiter, MemoryRateLimiter, type RateLimiter } from './rate-limit'
import type { Db } from './store/db'
import { Store } from './store/store'
import { TokenService } from './tokens'
import { OidcVerifier, type VerifiedToken } from './trust'

export interface TokenVerifier {
  verify(token: string, audience: string): Promise<VerifiedToken>
}

export interface AppContext {
  config: ServerConfig
  store: Store
  keys: SigningKeys
  tokens: TokenService
  /** Verifies GitHub OIDC tokens; never accepts our own issuer. */
  verifier: TokenVerifier
  limiter: RateLimiter
  now: () => Date
  /** Our origin (PUBLIC_URL or the bound http://HOST:PORT). */
  publicUrl: () => string
  setPublicUrl(url: string): void
}

export interface ContextOptions {
  config: ServerConfig
  db: Db
  /** Test clock; defaults to the real one. */
  now?: () => Date
  limiter?: RateLimiter
  verifier?: TokenVerifier
}

export async function createContext(options: ContextOptions): Promise<AppContext> {
  const { config, db } = options
  const now = options.now ?? (() => new Date())
  let publicUrl = config.publicUrl ?? ''
  const getPublicUrl = (): string => {
    if (!publicUrl) throw new Error('public URL not known yet (server not listening)')
    return publicUrl
  }
  const store = new Store(db, now)
  const keys = new SigningKeys(store, now)
  await keys.init()
  const tokens = new TokenService(store, keys, getPublicUrl, now)

  // Built on first use: it must know our own origin to refuse tokens we issued.
  let verifier = options.verifier
  const lazyVerifier: TokenVerifier = {
    verify(token, audience) {
      verifier ??= new OidcVerifier({
        issuers: config.oidcIssuers,
        rejectIssuers: [getPublicUrl()],
        clockToleranceSeconds: 60,
        maxTokenAgeSeconds: 360,
        now: () => now().getTime()
      })
      return verifier.verify(token, audience)
    }
  }
  // On PostgreSQL several instances may share the database: the bucket lives there too.
  const { burst, perMinute } = config.rateLimit
  const limiter =
    options.limiter ??
    (db.kind === 'postgres'
      ? new DatabaseRateLimiter(db, burst, perMinute, () => now().getTime())
      : new MemoryRateLimiter(burst, perMinute, () => now().getTime()))

  return {
    config,
    store,
    keys,
    tokens,
    verifier: lazyVerifier,
    limiter,
    now,
    publicUrl: getPublicUrl,
    setPublicUrl(url) {
      publicUrl = url
    }
  }
}
