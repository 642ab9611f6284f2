/**
 * The reference server as a Fastify plugin plus a builder that sets the server-wide
 * options (64 KiB body cap, strict schemas, error envelopes). main.ts only adds config,
 * the database and listen/close.
 */
import { STATUS_CODES } from 'node:http'
import type { Socket } from 'node:net'
import AjvCompiler, { type BuildCompilerFromPool } from '@fastify/ajv-compiler'
import Fastify, { type FastifyError, type FastifyInstance, type FastifyPluginAsync, type FastifyReply, type FastifyRequest, type FastifyServerOptions } from 'fastify'
import fp from 'fastify-plugin'
import type { AppContext, AppOptions } from './context'
import { ApiError, badRequest, envelope, refusalOf } from './errors'
import { newRequestId, quietLogController, serializeError } from './logging'
import { operations } from './operations'
import { IDEMPOTENCY_TTL_MS } from './idempotency'
import { registerRoutes } from './routes'
import { findUnsafeText } from './oidc/storable-text'
import { services } from './services'

export const BODY_LIMIT_BYTES = 64 * 1024
/** Longest path parameter (find-my-way's maxParamLength): ids are UUIDs, namespaces under 50. */
export const MAX_PARAM_LENGTH = 100

/** Maps Fastify's own client errors (bad JSON, size, media type, schema) to our codes. */
function clientError(error: FastifyError): { status: number; message: string } | undefined {
  if (error.validation && error.validation.length > 0) {
    const first = error.validation[0]!
    const where = (first.instancePath || '').replace(/^\//, '').replace(/\//g, '.')
    const extra = (first.params as { additionalProperty?: string }).additionalProperty
    const message = extra
      ? `unknown field "${extra}"${where ? ` in ${where}` : ''}`
      : `${error.validationContext ?? 'body'}${where ? `.${where}` : ''} ${first.message ?? 'is invalid'}`
    return { status: 400, message }
  }
  switch (error.code) {
    case 'FST_ERR_BAD_URL':
      return { status: 400, message: 'the URL path is not valid percent-encoded UTF-8' }
    case 'FST_ERR_MAX_PARAM_LENGTH':
      return { status: 414, message: `a path parameter is longer than ${MAX_PARAM_LENGTH} characters` }
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return { status: 413, message: `request body is larger than ${BODY_LIMIT_BYTES} bytes` }
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return { status: 415, message: 'send the body as application/json' }
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return { status: 400, message: 'request body is not valid JSON' }
  }
  if (error.statusCode !== undefined && error.statusCode >= 400 && error.statusCode < 500) {
    return { status: error.statusCode, message: 'malformed request' }
  }
  return undefined
}

/**
 * The first string (or object key) of a parsed body holding text the database cannot hold,
 * as a message naming the field (the name never carries the bad text).
 */
export function unsafeBodyText(body: unknown): string | undefined {
  const found = findUnsafeText(body)
  if (!found) return undefined
  if (found.inName) return `the name of field ${found.path} contains ${found.problem}`
  return `${found.path ? `field ${found.path}` : 'the body'} contains ${found.problem}`
}

/** Refuses a parsed body with unsafe text: 400 invalid_request naming the field, before any route sees it. */
function checkedBody(body: unknown): { error: ApiError } | { body: unknown } {
  const problem = unsafeBodyText(body)
  return problem ? { error: badRequest(`${problem}; text must not contain NUL characters or unpaired UTF-16 surrogates`) } : { body }
}

/** Fastify's frameworkErrors: errors raised while routing, before the error handler exists for the request. */
function frameworkError(error: FastifyError, request: FastifyRequest, reply: FastifyReply): void {
  const mapped = clientError(error)
  if (mapped) return void reply.code(mapped.status).send(envelope(request.url, 'invalid_request', mapped.message))
  request.log.error({ err: serializeError(error) }, 'unhandled framework error')
  void reply.code(500).send(envelope(request.url, 'server_error', 'internal error; see the server log'))
}

/** The request target of a raw HTTP packet, for choosing the envelope of a connection-level error. */
function pathOfRawPacket(raw: unknown): string {
  const packet = Buffer.isBuffer(raw) ? raw : Array.isArray((raw as { data?: unknown } | undefined)?.data) ? Buffer.from((raw as { data: number[] }).data) : undefined
  const line = packet?.subarray(0, 2048).toString('latin1').split('\r\n', 1)[0] ?? ''
  return /^[A-Z]+ (\/\S*) HTTP\/\d/.exec(line)?.[1] ?? ''
}

/**
 * Errors of the HTTP parser (a malformed request line or header, headers over the size
 * limit, a request not received in time), answered on the socket before Fastify sees a
 * request: in the envelope of the request's path when it can be read, Protocol A otherwise.
 */
function clientErrorHandler(error: Error & { code?: string; rawPacket?: unknown }, socket: Socket): void {
  if (error.code === 'ECONNRESET' || socket.destroyed) return
  let status = 400
  let message = 'malformed HTTP request'
  if (error.code === 'ERR_HTTP_REQUEST_TIMEOUT') {
    status = 408
    message = 'the request was not received in time'
  } else if (error.code === 'HPE_HEADER_OVERFLOW') {
    status = 431
    message = 'the request headers are too large'
  }
  if (socket.writable) {
    const body = JSON.stringify(envelope(pathOfRawPacket(error.rawPacket), 'invalid_request', message))
    socket.write(
      `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`
    )
  }
  socket.destroy(error)
}

/**
 * Fastify's own validator compiler (Ajv), but each route's validator is compiled when the
 * route first validates a request instead of at start: compiling all body schemas (and
 * creating Ajv) was a visible share of start-up (bench/ANALYSIS.md), and most routes (admin, revoke, explain) are rare. The validator
 * Fastify holds asks for the real one on first call, and also on first read of the two
 * properties Fastify reads from it (`errors`, `schemaEnv`), so requests see exactly what an
 * eagerly compiled validator would give.
 */
function compileOnFirstUse(factory: BuildCompilerFromPool): BuildCompilerFromPool {
  return (externalSchemas, options) => {
    let compiler: ReturnType<BuildCompilerFromPool> | undefined
    return (route) => {
      type Validate = ReturnType<ReturnType<BuildCompilerFromPool>>
      let validate: Validate | undefined
      const real = (): Validate => (validate ??= (compiler ??= factory(externalSchemas, options))(route))
      const lazy = ((...args: Parameters<Validate>) => real()(...args)) as Validate
      Object.defineProperties(lazy, {
        errors: { get: (): unknown => real().errors, set: (value: Validate['errors']) => (real().errors = value) },
        schemaEnv: { get: () => (real() as unknown as { schemaEnv?: unknown }).schemaEnv }
      })
      return lazy
    }
  }
}

/** All routes, as one plugin (encapsulation skipped so the handlers apply to the root). */
const routes: FastifyPluginAsync<AppOptions> = async (app, { context }) => {
  // JSON: an empty body is "no body" (federate sends none); anything else must parse.
  const defaultJson = app.getDefaultJsonParser('error', 'error')
  app.removeContentTypeParser('application/json')
  // Every string of a body (JSON or form) is checked once, here, for NUL and unpaired
  // surrogates: the database refuses or alters such text, so no route may ever store it.
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, done) => {
    if (body === '' || (typeof body === 'string' && body.trim() === '')) return done(null, undefined)
    void defaultJson(request, body as string, (error, parsed) => {
      if (error) return done(error, undefined)
      const checked = checkedBody(parsed)
      if ('error' in checked) return done(checked.error, undefined)
      done(null, checked.body)
    })
  })
  // RFC 7662/7009 clients send form bodies.
  app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string' }, (_request, body, done) => {
    const params = new URLSearchParams(body as string)
    const out = Object.create(null) as Record<string, string>
    for (const [key, value] of params) if (!(key in out)) out[key] = value
    const checked = checkedBody({ ...out })
    if ('error' in checked) return done(checked.error, undefined)
    done(null, checked.body)
  })

  app.setErrorHandler((error: FastifyError | ApiError, request, reply) => {
    const refusal = refusalOf(error, request.url)
    if (refusal) {
      return reply
        .code(refusal.status)
        .headers(refusal.headers)
        .send(envelope(request.url, refusal.code, refusal.message, refusal.fields))
    }
    const mapped = clientError(error)
    if (mapped) return reply.code(mapped.status).send(envelope(request.url, 'invalid_request', mapped.message))
    // Serialized here, whatever logger is configured: database errors carry the statement and
    // its parameters, which must never reach a log line.
    request.log.error({ err: serializeError(error) }, 'unhandled error')
    return reply.code(500).send(envelope(request.url, 'server_error', 'internal error; see the server log'))
  })
  app.setNotFoundHandler((request, reply) => {
    reply.code(404).send(envelope(request.url, 'not_found', `no route ${request.method} ${request.url.split('?')[0]}`))
  })

  // Expired Idempotency-Key rows are useless; drop them at start and hourly.
  let pruneTimer: NodeJS.Timeout | undefined
  const prune = (): void => void context.store.idempotencyKeys.prune(IDEMPOTENCY_TTL_MS).catch((err: unknown) => app.log.warn({ err }, 'idempotency prune failed'))
  app.addHook('onReady', async () => {
    prune()
    pruneTimer = setInterval(prune, 60 * 60 * 1000)
    pruneTimer.unref()
  })
  app.addHook('onClose', async () => clearInterval(pruneTimer))

  // During a graceful close, answers to requests still in flight end their keep-alive
  // connection, so close() does not wait for the client to drop it.
  let closing = false
  app.addHook('preClose', async () => {
    closing = true
  })
  app.addHook('onSend', async (_request, reply, payload) => {
    if (closing) reply.header('connection', 'close')
    return payload
  })

  await app.register(services, { context })
  await app.register(operations)
  await registerRoutes(app)
}

export const federateApp = fp(routes, { name: 'federate-app', fastify: '5.x' })

/** A Fastify instance with the server-wide options and the app registered. */
export async function buildServer(context: AppContext, options: { logger?: FastifyServerOptions['logger'] } = {}): Promise<FastifyInstance> {
  const app = Fastify({
    logger: options.logger ?? false,
    bodyLimit: BODY_LIMIT_BYTES,
    // Reject unknown fields instead of silently dropping them; no type coercion surprises.
    ajv: { customOptions: { removeAdditional: false, coerceTypes: false, allErrors: false } },
    schemaController: {
      compilersFactory: {
        buildValidator: compileOnFirstUse(AjvCompiler()),
        // Responses are serialized with JSON.stringify (openapi.ts says why); given here, Fastify
        // does not even load its schema-based serializer (fast-json-stringify).
        buildSerializer: () => () => (data: unknown) => JSON.stringify(data)
      }
    },
    // Errors Fastify raises before a route or the error handler is involved (a path that is
    // not valid percent-encoded UTF-8, a path parameter over maxParamLength) and errors of the
    // HTTP parser: in the protocol's envelope too, never Fastify's own shape.
    routerOptions: { maxParamLength: MAX_PARAM_LENGTH },
    frameworkErrors: frameworkError,
    clientErrorHandler,
    // X-Forwarded-For is believed only from the proxies TRUST_PROXY names (default: none): it
    // decides the client address that failures before verification are limited by.
    // (Fastify takes a hop count at run time; its types omit it.)
    trustProxy: context.config.trustProxy as boolean | string,
    // One JSON line per request comes from logging.ts (no headers, no tokens); random ids.
    logController: quietLogController(),
    genReqId: newRequestId,
    // Graceful close: requests in flight finish, idle keep-alive connections are closed,
    // new requests on open connections get a 503 (never 'forceCloseConnections: true',
    // which would cut requests in flight).
    return503OnClosing: true
  })
  await app.register(federateApp, { context })
  return app
}
