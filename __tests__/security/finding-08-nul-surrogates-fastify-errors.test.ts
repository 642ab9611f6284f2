/**
 * Finding 8: a NUL or an unpaired UTF-16 surrogate in request-body text or in a signed OIDC
 * claim reached the database: a 500, logged with the statement's parameters. Fastify's own
 * errors (bad URL encoding, an over-long path parameter, malformed HTTP) came back in
 * Fastify's shape, not the protocol's envelope.
 *
 * Now: (a) such text in a JSON or form body is a 400 invalid_request naming the field;
 * (b) in a verified token's claims a 400 invalid_request naming the claim; (c) errors are
 * logged without query, parameters or values; (d) every Fastify 4xx is in the envelope of
 * the route's protocol (A: {error, error_description}; B: {success: false, error, code}).
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals'
import { connect } from 'node:net'
import { Writable } from 'node:stream'
import type { FastifyInstance } from 'fastify'
import { buildServer } from '../../shared/server/app'
import { loadConfig, resolvePublicUrl } from '../../shared/server/config'
import { createContext } from '../../shared/server/context'
import { loggerOptions } from '../../shared/server/logging'
import type { Db } from '../../shared/server/store/db'
import type { ApiResponse } from '../../shared/testing/api-call'
import { LocalOidcIssuer, githubClaims } from '../../shared/testing/oidc-issuer'
import { ACME, ADMIN_TOKEN, call, givenBootstrapPolicy, openTestDatabase, useTestServer } from '../server/helpers'

const NUL = '\u0000'
const LONE_HIGH = '\ud800'
const LONE_LOW = '\udc00'
/** Many failing requests from one address in this file: keep the pre-auth limiter out of the way. */
const ENV = { PREAUTH_FAILURE_BURST: '100000', PREAUTH_FAILURE_PER_MINUTE: '100000' }

const { server, client: c } = useTestServer(ENV)
let bootstrap: string

beforeAll(async () => {
  await givenBootstrapPolicy(server, ACME)
  bootstrap = await c.bootstrap()
})

/** A protocol-A error answer, free of Fastify's own shape and of stack traces. */
function expectEnvelopeA(res: Pick<ApiResponse, 'status' | 'body' | 'text'>, status: number, mentions?: string): void {
  expect({ status: res.status, text: res.text }).toEqual({ status, text: expect.any(String) })
  expect(Object.keys(res.body ?? {}).sort()).toEqual(['error', 'error_description'])
  expect(res.body.error).toBe(status === 414 || status < 500 ? 'invalid_request' : res.body.error)
  expect(res.text).not.toMatch(/FST_|statusCode|stack|\.ts:\d+/)
  if (mentions) expect(res.body.error_description).toContain(mentions)
}

function expectEnvelopeB(res: Pick<ApiResponse, 'status' | 'body' | 'text'>, status: number): void {
  expect(res.status).toBe(status)
  expect(res.body).toEqual({ success: false, error: expect.any(String), code: 'invalid_request' })
  expect(res.text).not.toMatch(/FST_|statusCode|stack/)
}

describe('finding 8 (a): NUL and unpaired surrogates in request bodies', () => {
  it('finding-08: a NUL in an agent description is a 400 invalid_request naming the field, not a 500', async () => {
    const res = await c.api('POST', '/api/v1/agents', { token: bootstrap, body: { name: 'nul-bot@acme.example', description: `before${NUL}after` } })
    expectEnvelopeA(res, 400, 'description')
  })

  it('finding-08: an unpaired surrogate (high or low) in an agent description is a 400 naming the field', async () => {
    for (const bad of [`x${LONE_HIGH}`, `${LONE_LOW}x`, `${LONE_LOW}${LONE_HIGH}`]) {
      const res = await c.api('POST', '/api/v1/agents', { token: bootstrap, body: { name: 'lone-bot@acme.example', description: bad } })
      expectEnvelopeA(res, 400, 'description')
    }
    // A well-formed pair (an emoji) is fine.
    const ok = await c.api('POST', '/api/v1/agents', { token: bootstrap, body: { name: 'emoji-bot@acme.example', description: 'robot \ud83e\udd16' } })
    expect(ok.status).toBe(201)
  })

  it('finding-08: any JSON body string, nested too, is checked (trust policy fields, array members) and named', async () => {
    const policy = await c.admin('POST', '/api/v1/oidc/trust-policies', { provider: 'github', repository: 'acme/widgets', environment: `prod${LONE_HIGH}` })
    expectEnvelopeA(policy, 400, 'environment')
    const events = await c.admin('POST', '/api/v1/oidc/trust-policies', { provider: 'github', repository: 'acme/widgets', events: ['push', `pu${NUL}sh`] })
    expectEnvelopeA(events, 400, 'events[1]')
    const exchange = await c.api('POST', '/api/v1/oidc/token', { body: { provider: `github${NUL}`, token: 'a.b.c' } })
    expectEnvelopeA(exchange, 400, 'provider')
  })

  it('finding-08: a NUL in a form body (RFC 7009 revoke) is a 400 naming the field', async () => {
    const res = await c.api('POST', '/api/v1/oauth/revoke', { raw: 'token=abc%00def', headers: { 'content-type': 'application/x-www-form-urlencoded' } })
    expectEnvelopeA(res, 400, 'token')
  })
})

describe('finding 8 (b): NUL and unpaired surrogates in signed OIDC claims', () => {
  const claimNames = [
    'sub',
    'repository',
    'repository_owner',
    'ref',
    'environment',
    'job_workflow_ref',
    'workflow_ref',
    'event_name',
    'workflow',
    'actor',
    'sha',
    'head_ref',
    'base_ref',
    'runner_environment'
  ]

  it.each(claimNames)('finding-08: a NUL or an unpaired surrogate in the %s claim is a 400 invalid_request naming it (exchange and explain)', async (claim) => {
    for (const bad of [`x${NUL}y`, `x${LONE_HIGH}`, `${LONE_LOW}y`]) {
      const claims = { ...githubClaims({ ...ACME, environment: 'prod' }), [claim]: bad }
      const token = await server.issuer.mint({ audience: server.url, claims })
      for (const path of ['/api/v1/oidc/token', '/api/v1/oidc/explain']) {
        const res = await c.api('POST', path, { body: { provider: 'github', token } })
        expectEnvelopeA(res, 400, `"${claim}"`)
      }
    }
  })

  it("finding-08: the same in a Protocol B federate token is a 400 in Protocol B's envelope", async () => {
    for (const claim of ['ref', 'event_name', 'repository']) {
      const token = await server.issuer.mint({ audience: 'persql', claims: { ...githubClaims(ACME), [claim]: `a${NUL}b` } })
      const res = await c.api('POST', '/v1/identity/federate', { token })
      expectEnvelopeB(res, 400)
      expect(res.body.error).toContain(claim)
    }
  })

  it('finding-08: a NUL in an array claim (aud members are checked before; custom claims too) is refused', async () => {
    const token = await server.issuer.mint({ audience: server.url, claims: { ...githubClaims(ACME), custom: { nested: [`a${NUL}`] } } })
    const res = await c.api('POST', '/api/v1/oidc/token', { body: { provider: 'github', token } })
    expectEnvelopeA(res, 400, 'custom')
  })
})

describe("finding 8 (d): Fastify's own errors in the protocol's envelope", () => {
  it('finding-08: bad URL encoding in a path parameter is a 400 in envelope A under /api and B under /v1', async () => {
    expectEnvelopeA(await call(server.url, 'GET', '/api/v1/agents/%E0%A4%A', { token: ADMIN_TOKEN }), 400)
    expectEnvelopeA(await call(server.url, 'GET', '/api/v1/agents/%E0%A4%A/audit', { token: ADMIN_TOKEN }), 400)
    expectEnvelopeB(await call(server.url, 'GET', '/v1/db/%E0%A4%A/main'), 400)
  })

  it('finding-08: a path parameter over the length limit (500-character agent id) is a 414 in the envelope', async () => {
    const long = 'a'.repeat(500)
    expectEnvelopeA(await call(server.url, 'GET', `/api/v1/agents/${long}`, { token: ADMIN_TOKEN }), 414)
    expectEnvelopeA(await call(server.url, 'POST', `/api/v1/agents/${long}/disable`, { token: ADMIN_TOKEN }), 414)
    expectEnvelopeB(await call(server.url, 'GET', `/v1/db/${long}/main`), 414)
  })

  it('finding-08: malformed HTTP (bad header line, oversized headers) is answered in the envelope of the path', async () => {
    const raw = (request: string): Promise<string> =>
      new Promise((resolve, reject) => {
        const { port } = new URL(server.url)
        const socket = connect(Number(port), '127.0.0.1')
        let answer = ''
        socket.on('data', (chunk) => (answer += chunk.toString('latin1')))
        socket.on('close', () => resolve(answer))
        socket.on('error', reject)
        socket.write(request)
      })
    const bodyOf = (answer: string): ApiResponse['body'] => JSON.parse(answer.slice(answer.indexOf('\r\n\r\n') + 4))

    const badHeaderA = await raw('GET /api/v1/audit HTTP/1.1\r\nHost: x\r\nBad Header Line\r\n\r\n')
    expect(badHeaderA).toMatch(/^HTTP\/1\.1 400 /)
    expect(bodyOf(badHeaderA)).toEqual({ error: 'invalid_request', error_description: expect.any(String) })

    const badHeaderB = await raw('GET /v1/db/x/y HTTP/1.1\r\nHost: x\r\nBad Header Line\r\n\r\n')
    expect(badHeaderB).toMatch(/^HTTP\/1\.1 400 /)
    expect(bodyOf(badHeaderB)).toEqual({ success: false, error: expect.any(String), code: 'invalid_request' })

    const huge = await raw(`GET /api/v1/audit HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(32 * 1024)}\r\n\r\n`)
    expect(huge).toMatch(/^HTTP\/1\.1 431 /)
    expect(bodyOf(huge)).toEqual({ error: 'invalid_request', error_description: expect.any(String) })
  })
})

describe('finding 8 (c): database errors are logged without parameters or query values', () => {
  const SECRET = 'SECRET-PARAM-7f3a9c'
  let app: FastifyInstance
  let db: Db
  let issuer: LocalOidcIssuer
  let url: string
  const lines: string[] = []

  beforeAll(async () => {
    issuer = await LocalOidcIssuer.start()
    const config = loadConfig({ OIDC_ISSUERS: issuer.url, ADMIN_TOKEN, PORT: '0', HOST: '127.0.0.1', ...ENV })
    db = await openTestDatabase()
    const context = await createContext({ config, db })
    const stream = new Writable({
      write(chunk, _encoding, done) {
        lines.push(...chunk.toString().split('\n').filter(Boolean))
        done()
      }
    })
    app = await buildServer(context, { logger: { ...loggerOptions('info'), stream } as never })
    // A route whose statement fails in the database with a secret among its parameters.
    app.get('/api/v1/test-db-error', async () => {
      await db.query('SELECT $1::jsonb AS detail, $2::text AS other', [`{"x": "\\u0000 ${SECRET}"}`, SECRET])
      return {}
    })
    await app.listen({ port: 0, host: '127.0.0.1' })
    const address = app.server.address()
    url = resolvePublicUrl(config, typeof address === 'object' && address ? address.port : 0)
    context.setPublicUrl(url)
  })
  afterAll(async () => {
    await app.close()
    await db.close()
    await issuer.close()
  })

  it('finding-08: the unhandled-error log line keeps message and SQLSTATE but no query, parameters, where or detail', async () => {
    const res = await call(url, 'GET', '/api/v1/test-db-error')
    expect(res.status).toBe(500)
    expect(res.body).toEqual({ error: 'server_error', error_description: expect.any(String) })
    expect(res.text).not.toContain(SECRET)
    const errorLines = lines.filter((line) => line.includes('"unhandled error"'))
    expect(errorLines).toHaveLength(1)
    const logged = JSON.parse(errorLines[0]!) as { err: Record<string, unknown> }
    expect(logged.err.message).toBe('unsupported Unicode escape sequence')
    expect(logged.err.code).toBe('22P05')
    expect(logged.err.stack).toEqual(expect.any(String))
    for (const field of ['query', 'params', 'parameters', 'values', 'detail', 'where', 'internalQuery', 'queryOptions']) {
      expect(logged.err).not.toHaveProperty(field)
    }
    expect(lines.join('\n')).not.toContain(SECRET)
    expect(lines.join('\n')).not.toContain('SELECT $1')
  })

  it('finding-08: the same holds with a logger that does not use loggerOptions (the unhandled-error path serializes itself)', async () => {
    const plain: string[] = []
    const bare = await buildServer(await createContext({ config: loadConfig({ OIDC_ISSUERS: issuer.url, ADMIN_TOKEN, PORT: '0', ...ENV }), db }), {
      logger: {
        level: 'info',
        stream: new Writable({
          write(chunk, _encoding, done) {
            plain.push(chunk.toString())
            done()
          }
        })
      } as never
    })
    bare.get('/api/v1/test-db-error', async () => {
      await db.query('SELECT $1::jsonb AS detail', [`{"x": "\\u0000 ${SECRET}"}`])
      return {}
    })
    try {
      await bare.listen({ port: 0, host: '127.0.0.1' })
      const { port } = bare.server.address() as { port: number }
      const res = await call(`http://127.0.0.1:${port}`, 'GET', '/api/v1/test-db-error')
      expect(res.status).toBe(500)
      expect(plain.join('')).toContain('unsupported Unicode escape sequence')
      expect(plain.join('')).not.toContain(SECRET)
    } finally {
      await bare.close()
    }
  })
})
