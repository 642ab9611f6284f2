/**
 * The server's services on the Fastify instance: `app.store`, `app.keys`, `app.tokens`, ...
 * Route plugins declare `dependencies: [SERVICES]` and use them from there; context.ts builds
 * them once per process (the composition root).
 */
import type { FastifyPluginAsync } from 'fastify'
import fp from 'fastify-plugin'
import type { ServerConfig } from './config'
import type { AppContext, AppOptions, TokenVerifier } from './context'
import type { DenialAudit } from './denial-audit'
import type { SigningKeys } from './keys'
import type { RateLimiter } from './rate-limit'
import type { Queryable } from './store/db'
import type { Store } from './store/store'
import type { TokenService } from './tokens'

/** The plugin name route plugins depend on. */
export const SERVICES = 'federate-services'

declare module 'fastify' {
  interface FastifyInstance {
    config: ServerConfig
    store: Store
    keys: SigningKeys
    tokens: TokenService
    /** Verifies GitHub OIDC tokens; never accepts our own issuer. */
    verifier: TokenVerifier
    /** Per repository: exchange, explain, federate. */
    limiter: RateLimiter
    /** New agents per repository, on the registration transaction's connection. */
    registrationLimiter: (db: Queryable) => RateLimiter
    /** Refusals anyone can cause in bulk, audited in aggregate. */
    denials: DenialAudit
    now: () => Date
    /** Our origin (PUBLIC_URL or the bound http://HOST:PORT). */
    publicUrl: () => string
  }
}

const plugin: FastifyPluginAsync<AppOptions> = async (app, { context }) => {
  const services: { [K in keyof AppContext]?: AppContext[K] } = context
  for (const name of ['config', 'store', 'keys', 'tokens', 'verifier', 'limiter', 'registrationLimiter', 'denials', 'now', 'publicUrl'] as const) {
    app.decorate(name, services[name] as never)
  }
}

export const services = fp(plugin, { name: SERVICES, fastify: '5.x' })
