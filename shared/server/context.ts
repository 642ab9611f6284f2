/**
 * Everything the routes need, built once per process from the configuration and an open
 * database, and passed into the app plugin (no module-level state).
 */
import type { ServerConfig } from './config'
import { DenialAudit } from './denial-audit'
import { SigningKeys } from './keys'
import { DatabaseRateLimiter, MemoryRateLimiter, type RateLimiter } from './rate-limit'
import type { Db, Queryable } from './store/db'
import { Store } from './store/store'
import { TokenService } from './tokens'
import { OidcVerifier, type VerifiedToken } from './trust'
import type { WorkspaceEngine } from './workspaces/engine'
import { openWorkspaceEngine } from './workspaces/open'
import { WorkspaceService } from './workspaces/service'

export interface TokenVerifier {
  verify(token: string, audience: string): Promise<VerifiedToken>
}

/** What the app plugin and every route or service plugin is registered with. */
export interface AppOptions {
  context: AppContext
}

export interface AppContext {
  config: ServerConfig
  store: Store
  keys: SigningKeys
  tokens: TokenService
  /** Verifies GitHub OIDC tokens; never accepts our own issuer. */
  verifier: TokenVerifier
  limiter: RateLimiter
  /** Refusals anyone can cause in bulk, audited in aggregate (denial-audit.ts). */
  denials: DenialAudit
  /**
   * New agents per repository (AGENT_REGISTRATION_*), taken inside the registration's
   * transaction: on PostgreSQL through that transaction's own connection (`db`), never a
   * second pool connection while holding a lock others wait on.
   */
  registrationLimiter: (db: Queryable) => RateLimiter
  /** The workspace SQL API: each workspace's own database (workspaces/). Closed with the app. */
  workspaces: WorkspaceService
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
  /** Tests: a workspace engine of their own (default: the one the configuration asks for). */
  workspaceEngine?: WorkspaceEngine
}

/**
 * Rows from before identities were bound to their issuer: with one trusted issuer they came
 * from it; with several, nobody can tell which, so the server does not start until it was
 * started once with the one issuer they came from.
 */
async function bindLegacyRows(store: Store, issuers: string[]): Promise<void> {
  if (issuers.length === 1) {
    await store.bindRowsToIssuer(issuers[0])
  } else if ((await store.bindRowsToIssuer(undefined)) > 0) {
    throw new Error(
      'the database holds policies, agents, workspaces or credentials from before they were bound to an OIDC issuer, and several issuers are trusted: start the server once with OIDC_ISSUERS set to the one issuer they came from (it binds them), then add the others'
    )
  }
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
  await bindLegacyRows(store, config.oidcIssuers)
  const keys = new SigningKeys(store, now, { secret: config.signingKeysSecret })
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
  const bucket = ({ burst, perMinute }: { burst: number; perMinute: number }): RateLimiter =>
    db.kind === 'postgres' ? new DatabaseRateLimiter(db, burst, perMinute, () => now().getTime()) : new MemoryRateLimiter(burst, perMinute, () => now().getTime())
  const limiter = options.limiter ?? bucket(config.rateLimit)
  const registrations = config.agentRegistration
  const memoryRegistrations = new MemoryRateLimiter(registrations.burst, registrations.perMinute, () => now().getTime())
  const registrationLimiter = (queryable: Queryable): RateLimiter =>
    db.kind === 'postgres' ? new DatabaseRateLimiter(queryable, registrations.burst, registrations.perMinute, () => now().getTime()) : memoryRegistrations

  return {
    config,
    store,
    keys,
    tokens,
    verifier: lazyVerifier,
    limiter,
    denials: new DenialAudit(store, now),
    registrationLimiter,
    workspaces: new WorkspaceService(store, options.workspaceEngine ?? (await openWorkspaceEngine(config.workspaces)), config.workspaces, config.signingKeysSecret),
    now,
    publicUrl: getPublicUrl,
    setPublicUrl(url) {
      publicUrl = url
    }
  }
}
