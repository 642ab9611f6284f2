/**
 * Server configuration read from the environment once at start (docs/server.md,
 * "Configuration"). Every bad value fails with a message naming the variable and the fix.
 */
import { randomBytes } from 'node:crypto'
import { availableParallelism } from 'node:os'
import { join, resolve } from 'node:path'

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
  /**
   * Fastify's trustProxy: false (default: the socket's address is the client), true (trust
   * every X-Forwarded-For hop), a hop count, or a comma-separated list of proxy addresses/CIDRs.
   */
  trustProxy: boolean | number | string
  /** Failures before a token is verified, per client address: token bucket. */
  preAuthLimit: { burst: number; perMinute: number }
  /** Agent registrations per repository: token bucket; and the most agents one repository may own. */
  agentRegistration: { burst: number; perMinute: number; maxPerRepository: number }
  /** Audit events and expired credentials older than this many days are deleted. */
  auditRetentionDays: number
  /** Encrypts the private signing keys at rest when set (SIGNING_KEYS_SECRET). */
  signingKeysSecret?: string
  /** The workspace SQL API (docs/workspaces.md). */
  workspaces: WorkspaceConfig
  /** Server processes (WORKERS): more than one makes this process a cluster primary (cluster.ts). */
  workers: number
}

export interface WorkspaceConfig {
  /** PostgreSQL mode: where each workspace gets a database and a login role (WORKSPACES_DATABASE_URL, default DATABASE_URL). */
  databaseUrl?: string
  /** Embedded mode: where each workspace's own database lives (DATA_DIR/workspaces). */
  dir: string
  statementTimeoutMs: number
  requestTimeoutMs: number
  maxRows: number
  maxResultBytes: number
  /** Request body of query and batch. */
  maxBodyBytes: number
  /** Storage quota per workspace. */
  maxBytes: number
  /** Embedded mode: instances open at once (each is a worker thread with its own engine). */
  maxOpen: number
  /** PostgreSQL mode: connections to workspace databases at once, all workspaces together. */
  maxConnections: number
  /** Requests one workspace may have waiting; more answer 429. */
  maxQueue: number
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
  // The agent endpoints expect tokens for PUBLIC_URL: if federate expected the same audience,
  // one OIDC token minted for the agent endpoints would also open a workspace (and the reverse).
  const ownUrl = publicUrl ?? (port === 0 ? undefined : `http://${host.includes(':') && !host.startsWith('[') ? `[${host}]` : host}:${port}`)
  if (ownUrl && sameAudience(federateAudience, ownUrl)) {
    throw new ConfigError(
      'FEDERATE_AUDIENCE',
      `must differ from PUBLIC_URL (${ownUrl}): that audience belongs to the agent endpoints, and a token minted for them must never federate; keep the default "persql" or choose another name`
    )
  }

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

  const workers = env.WORKERS?.trim() === 'auto' ? Math.min(MAX_WORKERS, availableParallelism()) : integer(env, 'WORKERS', 1, 1, MAX_WORKERS)
  if (workers > 1 && !databaseUrl) {
    throw new ConfigError('WORKERS', 'WORKERS > 1 needs DATABASE_URL: the embedded database belongs to one process (set DATABASE_URL, or WORKERS=1)')
  }

  const signingKeysSecret = env.SIGNING_KEYS_SECRET ?? ''
  if (signingKeysSecret !== '' && signingKeysSecret.length < 32) {
    throw new ConfigError('SIGNING_KEYS_SECRET', 'must be at least 32 characters long (e.g. openssl rand -base64 32)')
  }

  const dataDir = resolve(env.DATA_DIR?.trim() || './.data')
  const workspacesDatabaseUrl = env.WORKSPACES_DATABASE_URL?.trim() || databaseUrl
  if (workspacesDatabaseUrl && !/^postgres(ql)?:\/\//.test(workspacesDatabaseUrl)) {
    throw new ConfigError('WORKSPACES_DATABASE_URL', 'must start with postgres:// or postgresql:// (unset it to keep workspaces beside the server database)')
  }
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
    workspaceTokenTtlSeconds: integer(env, 'WORKSPACE_TOKEN_TTL', 3600, 60, 86_400),
    logLevel,
    trustProxy: trustProxy(env.TRUST_PROXY),
    preAuthLimit: {
      burst: integer(env, 'PREAUTH_FAILURE_BURST', 30, 1, 1_000_000),
      perMinute: integer(env, 'PREAUTH_FAILURE_PER_MINUTE', 60, 1, 10_000_000)
    },
    agentRegistration: {
      burst: integer(env, 'AGENT_REGISTRATION_BURST', 20, 1, 1_000_000),
      perMinute: integer(env, 'AGENT_REGISTRATION_PER_MINUTE', 20, 1, 10_000_000),
      maxPerRepository: integer(env, 'MAX_AGENTS_PER_REPOSITORY', 100, 1, 1_000_000)
    },
    auditRetentionDays: integer(env, 'AUDIT_RETENTION_DAYS', 90, 1, 36_500),
    ...(signingKeysSecret ? { signingKeysSecret } : {}),
    workspaces: {
      ...(workspacesDatabaseUrl ? { databaseUrl: workspacesDatabaseUrl } : {}),
      dir: join(dataDir, 'workspaces'),
      statementTimeoutMs: integer(env, 'WORKSPACE_STATEMENT_TIMEOUT_MS', 5000, 10, 3_600_000),
      requestTimeoutMs: integer(env, 'WORKSPACE_REQUEST_TIMEOUT_MS', 30_000, 10, 3_600_000),
      maxRows: integer(env, 'WORKSPACE_MAX_ROWS', 10_000, 1, 10_000_000),
      maxResultBytes: integer(env, 'WORKSPACE_MAX_RESULT_BYTES', 4 * MiB, 1024, 1024 * MiB),
      maxBodyBytes: integer(env, 'WORKSPACE_MAX_BODY_BYTES', MiB, 1024, 64 * MiB),
      maxBytes: integer(env, 'WORKSPACE_MAX_BYTES', 100 * MiB, 0, Number.MAX_SAFE_INTEGER),
      maxOpen: integer(env, 'WORKSPACE_MAX_OPEN', 16, 1, 10_000),
      maxConnections: integer(env, 'WORKSPACE_MAX_CONNECTIONS', 50, 1, 10_000),
      maxQueue: integer(env, 'WORKSPACE_MAX_QUEUE', 64, 1, 100_000)
    },
    workers
  }
}

const MiB = 1024 * 1024
const MAX_WORKERS = 64

/** Audiences compare as strings; an origin also matches itself with a trailing slash. */
function sameAudience(a: string, b: string): boolean {
  const trim = (s: string): string => s.replace(/\/+$/, '')
  return trim(a) === trim(b)
}

/** TRUST_PROXY: unset/false, true, a hop count, or comma-separated proxy addresses/CIDRs. */
function trustProxy(raw: string | undefined): boolean | number | string {
  const value = raw?.trim() ?? ''
  if (value === '' || value === 'false') return false
  if (value === 'true') return true
  if (/^\d+$/.test(value)) {
    const hops = Number(value)
    if (hops < 1 || hops > 16) throw new ConfigError('TRUST_PROXY', `"${value}" hops: use 1 to 16`)
    return hops
  }
  const entries = value
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
  for (const entry of entries) {
    if (!/^[0-9A-Fa-f.:]+(\/\d{1,3})?$/.test(entry) && !['loopback', 'linklocal', 'uniquelocal'].includes(entry)) {
      throw new ConfigError('TRUST_PROXY', `"${entry}" is not an IP address or CIDR; use true, a hop count, or the proxies' addresses (e.g. 10.0.0.0/8,loopback)`)
    }
  }
  return entries.join(',')
}

/** PUBLIC_URL, or http://HOST:PORT with the port actually bound (PORT=0 picks one). */
export function resolvePublicUrl(config: ServerConfig, boundPort: number): string {
  if (config.publicUrl) return config.publicUrl
  const host = config.host.includes(':') && !config.host.startsWith('[') ? `[${config.host}]` : config.host
  const shown = host === '0.0.0.0' || host === '[::]' ? '127.0.0.1' : host
  return `http://${shown}:${boundPort}`
}
