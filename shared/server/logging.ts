/**
 * Structured JSON logs: one line per request (method, route, status, duration, request id,
 * identity when known, error code when refused) and never a token. Fastify's own request
 * logging is off (quietLogController); its req/res serializers are replaced so that
 * headers, bodies and query strings never reach a log line, and pino redaction catches
 * token-shaped fields anyone might log by mistake.
 */
import { randomUUID } from 'node:crypto'
import { LogController, type FastifyError, type FastifyPluginAsync, type FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'
import { refusalOf, type ApiError } from './errors'
import { requestFacts } from './request-facts'

/** Field names whose values are secrets, at any of the first two levels of a log object. */
const SECRET_FIELDS = [
  'authorization',
  'token',
  'access_token',
  'accessToken',
  'id_token',
  'adminToken',
  'admin_token',
  'password',
  'client_secret',
  'privateJwk',
  'private_jwk',
  'databaseUrl'
]

export const REDACT_PATHS = ['req.headers.authorization', 'req.headers.cookie', 'headers.authorization', ...SECRET_FIELDS, ...SECRET_FIELDS.map((field) => `*.${field}`)]

/** Path only: a query string could carry anything a client chose to put there. */
function pathOf(url: string): string {
  const index = url.indexOf('?')
  return index === -1 ? url : url.slice(0, index)
}

/** Longest error message kept in a log line (database messages can quote input). */
const MAX_ERROR_MESSAGE = 1000
/** How deep `cause` chains (and AggregateError members) are followed. */
const MAX_ERROR_DEPTH = 4

/**
 * An error as a log field, keeping only what says what went wrong and where: type, message,
 * code, SQLSTATE, HTTP status, stack, and the same of its `cause` (and AggregateError
 * members). Everything else is dropped: PGlite's and pg's errors carry the statement and its
 * parameters (`query`, `params`, `queryOptions`), the offending values (`detail`, `where`,
 * `internalQuery`, `hint`, `position`...), and pino's default serializer prints every
 * enumerable field. Idempotent: an already serialized error passes through unchanged.
 */
export function serializeError(error: unknown, depth = 0): unknown {
  if (typeof error !== 'object' || error === null) return error
  const source = error as Record<string, unknown>
  const out: Record<string, unknown> = {}
  const type = typeof source.type === 'string' ? source.type : error.constructor?.name
  if (typeof type === 'string' && type !== 'Object') out.type = type
  if (typeof source.message === 'string') {
    out.message = source.message.length > MAX_ERROR_MESSAGE ? `${source.message.slice(0, MAX_ERROR_MESSAGE)}…` : source.message
  }
  for (const field of ['code', 'sqlstate', 'statusCode', 'severity'] as const) {
    const value = source[field]
    if (typeof value === 'string' || typeof value === 'number') out[field] = value
  }
  if (typeof source.stack === 'string') out.stack = source.stack
  if (depth < MAX_ERROR_DEPTH) {
    if (source.cause !== undefined) out.cause = serializeError(source.cause, depth + 1)
    if (Array.isArray(source.errors)) out.errors = source.errors.slice(0, 5).map((member) => serializeError(member, depth + 1))
  }
  return out
}

/** Pino options for the server: level from LOG_LEVEL, redaction, header-free serializers. */
export function loggerOptions(level: string): Record<string, unknown> {
  return {
    level,
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
    serializers: {
      req: (req: { method?: string; url?: string; id?: string }) => ({ method: req.method, path: pathOf(req.url ?? ''), id: req.id }),
      res: (res: { statusCode?: number }) => ({ statusCode: res.statusCode }),
      err: (error: unknown) => serializeError(error)
    }
  }
}

/** Fastify's own "incoming request"/"request completed" lines off: ours replace them. */
export function quietLogController(): LogController {
  return new LogController({ disableRequestLogging: true })
}

/** Request ids: random, so lines of several instances never collide. */
export function newRequestId(): string {
  return randomUUID()
}

function errorCode(error: FastifyError | ApiError, url: string): string {
  const refusal = refusalOf(error, url)
  if (refusal) return refusal.code
  const status = (error as FastifyError).statusCode
  return status !== undefined && status < 500 ? 'invalid_request' : 'server_error'
}

const INFO_ENABLED = new Set(['info', 'debug', 'trace'])

const plugin: FastifyPluginAsync = async (app) => {
  app.addHook('onRequest', async (request, reply) => {
    reply.header('x-request-id', request.id)
  })
  app.addHook('onError', async (request, _reply, error) => {
    requestFacts(request).errorCode = errorCode(error, request.url)
  })
  app.addHook('onResponse', async (request: FastifyRequest, reply) => {
    if (!INFO_ENABLED.has(request.log.level)) return
    const facts = requestFacts(request)
    request.log.info(
      {
        method: request.method,
        route: request.routeOptions.url ?? 'unmatched',
        path: pathOf(request.url),
        status: reply.statusCode,
        durationMs: Math.round(reply.elapsedTime * 100) / 100,
        ...(facts.identity ? { identity: facts.identity } : {}),
        ...(facts.errorCode ? { error: facts.errorCode } : {})
      },
      'request'
    )
  })
}

export const requestLogging = fp(plugin, { name: 'federate-request-logging', fastify: '5.x' })
