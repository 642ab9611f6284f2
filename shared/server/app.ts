/**
 * The reference server as a Fastify plugin plus a builder that sets the server-wide
 * options (64 KiB body cap, strict schemas, error envelopes). main.ts only adds config,
 * the database and listen/close.
 */
import AjvCompiler, { type BuildCompilerFromPool } from '@fastify/ajv-compiler'
import Fastify, { type FastifyError, type FastifyInstance, type FastifyPluginAsync, type FastifyServerOptions } from 'fastify'
import fp from 'fastify-plugin'
import type { AppContext } from './context'
import { ApiError, envelope } from './errors'
import { newRequestId, quietLogController } from './logging'
import { operations } from './operations'
import { IDEMPOTENCY_TTL_MS } from './idempotency'
import { agentRoutes } from './routes/agents'
import { federateRoutes } from './routes/federate'
import { metaRoutes } from './routes/meta'
import { oauthRoutes } from './routes/oauth'
import { oidcRoutes } from './routes/oidc'

export const BODY_LIMIT_BYTES = 64 * 1024

export interface AppOptions {
  context: AppContext
}

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
 * Fastify's own validator compiler (Ajv), but each route's validator is compiled when the
 * route first validates a request instead of at start: compiling all body schemas (and
 * creating Ajv) took ~10% of start-up, and most routes (admin, revoke, explain) are rare. The validator
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
        errors: { get: () => real().errors, set: (value) => (real().errors = value) },
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
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, done) => {
    if (body === '' || (typeof body === 'string' && body.trim() === '')) return done(null, undefined)
    defaultJson(request, body as string, done)
  })
  // RFC 7662/7009 clients send form bodies.
  app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string' }, (_request, body, done) => {
    const params = new URLSearchParams(body as string)
    const out: Record<string, string> = Object.create(null)
    for (const [key, value] of params) if (!(key in out)) out[key] = value
    done(null, { ...out })
  })

  app.setErrorHandler((error: FastifyError | ApiError, request, reply) => {
    if (error instanceof ApiError) {
      return reply.code(error.status).headers(error.headers).send(envelope(request.url, error.code, error.message))
    }
    const mapped = clientError(error as FastifyError)
    if (mapped) return reply.code(mapped.status).send(envelope(request.url, 'invalid_request', mapped.message))
    request.log.error({ err: error }, 'unhandled error')
    return reply.code(500).send(envelope(request.url, 'server_error', 'internal error; see the server log'))
  })
  app.setNotFoundHandler((request, reply) => {
    reply.code(404).send(envelope(request.url, 'not_found', `no route ${request.method} ${request.url.split('?')[0]}`))
  })

  // Expired Idempotency-Key rows are useless; drop them at start and hourly.
  let pruneTimer: NodeJS.Timeout | undefined
  const prune = (): void => void context.store.pruneIdempotency(IDEMPOTENCY_TTL_MS).catch((err: unknown) => app.log.warn({ err }, 'idempotency prune failed'))
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

  await app.register(operations, { context })
  await app.register(metaRoutes, { context })
  await app.register(oidcRoutes, { context })
  await app.register(agentRoutes, { context })
  await app.register(oauthRoutes, { context })
  await app.register(federateRoutes, { context })
}

export const federateApp = fp(routes, { name: 'federate-app', fastify: '5.x' })

/** A Fastify instance with the server-wide options and the app registered. */
export async function buildServer(
  context: AppContext,
  options: { logger?: FastifyServerOptions['logger'] } = {}
): Promise<FastifyInstance> {
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
    // Never trust X-Forwarded-* by default; an operator behind a proxy sets PUBLIC_URL.
    trustProxy: false,
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
