/**
 * Server configuration read from the environment once at start (design.md, "The reference
 * server"). Every bad value fails with a message naming the variable and the fix.
 */
import { randomBytes } from 'node:crypto'
import { resolve } from 'node:path'

export interface ServerConfig {
  port: number
  host: string
  /** Our own origin; undefined means "http://HOST:PORT once listening" (see resolvePublicUrl). */
  publicUrl?: string
  oidcIssuers: string[]
  federateAudience: string
  federateEvents: string[]
  adminToken: string
  /** True when ADMIN_TOKEN was unset and we generated one (main.ts prints it once). */
  adminTokenGenerated: boolean
  databaseUrl?: string
  dataDir: string
  /** Token bucket per repository on exchange and federate. */
  rateLimit: { burst: number; perMinute: number }
  /** Lifetime cap of issued access tokens, seconds. */
  accessTokenTtlSeconds: number
  /** Lifetime of workspace tokens, seconds. */
  workspaceTokenTtlSeconds: number
  logLevel: string
}

export class ConfigError extends Error {
  constructor(
    readonly variable: string,
    message: string
  ) {
    super(`${variable}: ${message}`)
    this.name = this.constructor.name
  }
}

const LOOPBACK_HOSTS = new Set(['127.0.0.1', 'localhost', '[::1]', '::1'])
const FEDERATE_EXTRA_EVENTS = new Set(['pull_request_target', 'workflow_run'])
const LOG_LEVELS = new Set(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'])

function integer(env: NodeJS.ProcessEnv, name: string, fallback: number, min: number, max: number): number {
  const raw = env[name]?.trim()
  if (raw === undefined || raw === '') return fallback
  if (!/^\d+$/.test(raw) || Number(raw) < min || Number(raw) > max) {
    throw new ConfigError(name, `"${raw}" is not a whole number between ${min} and ${max}`)
  }
  return Number(raw)
}

/** An origin such as https://idp.example.com (no path, query or fragment). */
function origin(name: string, raw: string, allowHttp: 'loopback' | 'always'): string {
  let url: URL
  try {
    url = new URL(raw)
  } catch {
    throw new ConfigError(name, `"${raw}" is not a URL; use e.g. https://idp.example.com`)
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    throw new ConfigError(name, `"${raw}" must be an http(s) URL`)
  }
  if (url.protocol === 'http:' && allowHttp === 'loopback' && !LOOPBACK_HOSTS.has(url.hostname)) {
    throw new ConfigError(name, `"${raw}" uses plain http:// which is only accepted on loopback; use https://`)
  }
  if (url.username || url.password || url.search || url.hash) {
    throw new ConfigError(name, `"${raw}" must not carry credentials, a query or a fragment`)
  }
  // Issuers are compared exactly with the token's `iss`, so keep the path but drop one trailing slash.
  return raw.endsWith('/') ? raw.slice(0, -1) : raw
}

/** Reads and validates the environment; throws ConfigError on the first bad value. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): ServerConfig {
  const port = integer(env, 'PORT', 8080, 0, 65535)
  const host = env.HOST?.trim() || '127.0.0.1'
  if (!/^[A-Za-z0-9.:\-[\]]+$/.test(host)) throw new ConfigError('HOST', `"${host}" is not a host name or address`)

  const publicUrl = env.PUBLIC_URL?.trim() ? origin('PUBLIC_URL', env.PUBLIC_URL.trim(), 'always') : undefined
  if (publicUrl && new URL(publicUrl).pathname !== '/') {
    throw new ConfigError('PUBLIC_URL', `"${publicUrl}" must be an origin without a path, e.g. https://idp.example.com`)
  }

  const issuersRaw = env.OIDC_ISSUERS?.trim() || 'https://token.actions.githubusercontent.com'
  const oidcIssuers = issuersRaw
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
    .map((s) => origin('OIDC_ISSUERS', s, 'loopback'))
  if (oidcIssuers.length === 0) throw new ConfigError('OIDC_ISSUERS', 'lists no issuer')

  if (publicUrl && oidcIssuers.includes(publicUrl)) {
    throw new ConfigError('OIDC_ISSUERS', `must not list this server's own PUBLIC_URL (${publicUrl}): its tokens are never OIDC tokens`)
  }

  const federateAudience = env.FEDERATE_AUDIENCE?.trim() || 'persql'
  if (federateAudience.length > 256) throw new ConfigError('FEDERATE_AUDIENCE', 'is longer than 256 characters')

  const federateEvents = (env.FEDERATE_EVENTS ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
  for (const event of federateEvents) {
    if (!FEDERATE_EXTRA_EVENTS.has(event)) {
      throw new ConfigError('FEDERATE_EVENTS', `"${event}" is not one of: ${[...FEDERATE_EXTRA_EVENTS].join(', ')}`)
    }
  }

  let adminToken = env.ADMIN_TOKEN ?? ''
  const adminTokenGenerated = adminToken === ''
  if (adminTokenGenerated) adminToken = randomBytes(32).toString('base64url')
  else if (adminToken.length < 16) throw new ConfigError('ADMIN_TOKEN', 'must be at least 16 characters long')

  const databaseUrl = env.DATABASE_URL?.trim() || undefined
  if (databaseUrl && !/^postgres(ql)?:\/\//.test(databaseUrl)) {
    // Never echo the value: it may hold a password.
    throw new ConfigError('DATABASE_URL', 'must start with postgres:// or postgresql:// (unset it for the embedded database)')
  }

  const dataDir = resolve(env.DATA_DIR?.trim() || './.data')
  const logLevel = env.LOG_LEVEL?.trim() || 'info'
  if (!LOG_LEVELS.has(logLevel)) throw new ConfigError('LOG_LEVEL', `"${logLevel}" is not one of ${[...LOG_LEVELS].join(', ')}`)

  return {
    port,
    host,
    publicUrl,
    oidcIssuers,
    federateAudience,
    federateEvents,
    adminToken,
    adminTokenGenerated,
    databaseUrl,
    dataDir,
    rateLimit: {
      burst: integer(env, 'RATE_LIMIT_BURST', 120, 1, 1_000_000),
      perMinute: integer(env, 'RATE_LIMIT_PER_MINUTE', 600, 1, 10_000_000)
    },
    accessTokenTtlSeconds: integer(env, 'ACCESS_TOKEN_TTL', 900, 60, 900),
    workspaceTokenTtlSeconds: 3600,
    logLevel
  }
}

/** PUBLIC_URL, or http://HOST:PORT with the port actually bound (PORT=0 picks one). */
export function resolvePublicUrl(config: ServerConfig, boundPort: number): string {
  if (config.publicUrl) return config.publicUrl
  const host = config.host.includes(':') && !config.host.startsWith('[') ? `[${config.host}]` : config.host
  const shown = host === '0.0.0.0' || host === '[::]' ? '127.0.0.1' : host
  return `http://${shown}:${boundPort}`
}
