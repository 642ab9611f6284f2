import { afterAll, beforeAll, describe, expect, it } from '@jest/globals'
import { ADMIN_TOKEN, client, oidcToken, startTestServer, type TestServer } from './helpers'

let server: TestServer
let c: ReturnType<typeof client>

beforeAll(async () => {
  server = await startTestServer()
  c = client(server)
})
afterAll(() => server.close())

/** Every error answer: the right status, no stack trace, no internals. */
function expectClean(res: { status: number; text: string }, status: number): void {
  expect(res.status).toBe(status)
  expect(res.text).not.toMatch(/\bat .*\.(ts|js):\d+/)
  expect(res.text).not.toMatch(/FST_|stack/i)
}

describe('malformed requests are 4xx, never 5xx', () => {
  it('broken JSON is a 400 invalid_request', async () => {
    const res = await c.api('POST', '/api/v1/oidc/token', { raw: '{"provider": "github", "token": ', headers: { 'content-type': 'application/json' } })
    expectClean(res, 400)
    expect(res.body.error).toBe('invalid_request')
  })

  it('a JSON array, string or null body is a 400', async () => {
    for (const raw of ['[]', '"token"', 'null', '42']) {
      const res = await c.api('POST', '/api/v1/oidc/token', { raw, headers: { 'content-type': 'application/json' } })
      expectClean(res, 400)
    }
  })

  it('an empty body is a 400 at the exchange', async () => {
    const res = await c.api('POST', '/api/v1/oidc/token', { headers: { 'content-type': 'application/json' }, raw: '' })
    expectClean(res, 400)
  })

  it('a 4 MiB body is a 413', async () => {
    const big = JSON.stringify({ provider: 'github', token: 'x'.repeat(4 * 1024 * 1024) })
    const res = await c.api('POST', '/api/v1/oidc/token', { raw: big, headers: { 'content-type': 'application/json' } })
    expectClean(res, 413)
    expect(res.body.error).toBe('invalid_request')
    const federate = await c.api('POST', '/v1/identity/federate', { raw: big, headers: { 'content-type': 'application/json' } })
    expectClean(federate, 413)
    expect(federate.body).toMatchObject({ success: false, code: 'invalid_request' })
  })

  it('an unsupported content type is a 415, text/plain a 400', async () => {
    const xml = await c.api('POST', '/api/v1/oidc/token', { raw: '<token/>', headers: { 'content-type': 'application/xml' } })
    expectClean(xml, 415)
    const text = await c.api('POST', '/api/v1/oidc/token', { raw: 'token', headers: { 'content-type': 'text/plain' } })
    expectClean(text, 400)
  })

  it('unknown fields are refused, naming the field', async () => {
    const token = await oidcToken(server, server.url)
    // `scope` is a field of the exchange now (least privilege); `role` is not.
    const res = await c.api('POST', '/api/v1/oidc/token', { body: { provider: 'github', token, role: 'admin' } })
    expectClean(res, 400)
    expect(res.body.error_description).toContain('"role"')
    const reg = await c.api('POST', '/api/v1/agents', { token: 'x', body: { name: 'a@b.example', admin: true } })
    expect(reg.status).toBe(400)
    const policy = await c.admin('POST', '/api/v1/oidc/trust-policies', { provider: 'github', repository: 'a/b', wildcard: true })
    expectClean(policy, 400)
  })

  it('wrong types and missing fields are refused', async () => {
    const token = await oidcToken(server, server.url)
    expectClean(await c.api('POST', '/api/v1/oidc/token', { body: { provider: 'github' } }), 400)
    expectClean(await c.api('POST', '/api/v1/oidc/token', { body: { provider: 'github', token: 42 } }), 400)
    expectClean(await c.api('POST', '/api/v1/oidc/token', { body: { provider: 'github', token, ttl: '60' } }), 400)
    expectClean(await c.api('POST', '/api/v1/oidc/token', { body: { provider: 'github', token, ttl: -5 } }), 400)
    expectClean(await c.api('POST', '/api/v1/oidc/token', { body: { provider: 'github', token, ttl: 1.5 } }), 400)
  })

  it('an unknown provider is a 400 invalid_request', async () => {
    const res = await c.api('POST', '/api/v1/oidc/token', { body: { provider: 'gitlab', token: await oidcToken(server, server.url) } })
    expectClean(res, 400)
    expect(res.body.error).toBe('invalid_request')
  })

  it('a non-UUID agentId is a 400, in the body and in paths', async () => {
    const token = await oidcToken(server, server.url)
    const body = await c.api('POST', '/api/v1/oidc/token', { body: { provider: 'github', token, agentId: "1' OR '1'='1" } })
    expectClean(body, 400)
    expect(body.body.error).toBe('invalid_request')
    for (const path of ['/api/v1/agents/not-a-uuid', '/api/v1/agents/1/credentials', '/api/v1/agents/x/audit']) {
      expectClean(await c.admin('GET', path), 400)
    }
    expectClean(await c.admin('POST', '/api/v1/agents/x/disable'), 400)
    expectClean(await c.admin('POST', '/api/v1/agents/00000000-0000-4000-8000-000000000000/credentials/nope/revoke'), 400)
    expectClean(await c.admin('DELETE', '/api/v1/oidc/trust-policies/nope'), 400)
  })

  it('oversized strings are refused', async () => {
    const res = await c.api('POST', '/api/v1/oidc/token', { body: { provider: 'github', token: 'a'.repeat(20_000) } })
    expectClean(res, 400)
    const reg = await c.api('POST', '/api/v1/agents', { token: 'x', body: { name: 'a@b.example', description: 'd'.repeat(5000) } })
    expectClean(reg, 400)
    const policy = await c.admin('POST', '/api/v1/oidc/trust-policies', { provider: 'github', repository: `a/${'b'.repeat(5000)}` })
    expectClean(policy, 400)
  })

  it('a token that is not three base64url segments is a 400', async () => {
    for (const token of ['', 'abc', 'a.b', 'a.b.c.d', 'a.b!.c']) {
      const res = await c.api('POST', '/api/v1/oidc/token', { body: { provider: 'github', token } })
      expectClean(res, 400)
      expect(res.body.error).toBe('invalid_request')
    }
  })

  it('prototype-poisoning JSON is refused', async () => {
    const res = await c.api('POST', '/api/v1/oidc/token', {
      raw: '{"provider":"github","token":"a.b.c","__proto__":{"admin":true}}',
      headers: { 'content-type': 'application/json' }
    })
    expectClean(res, 400)
  })

  it('unknown routes are a 404 in the envelope of their protocol', async () => {
    const a = await c.api('GET', '/api/v1/nothing')
    expectClean(a, 404)
    expect(a.body.error).toBe('not_found')
    const b = await c.api('GET', '/v1/nothing')
    expectClean(b, 404)
    expect(b.body).toMatchObject({ success: false, code: 'not_found' })
  })

  it('a body nested thousands of levels deep is a 400, not a crash of the text check', async () => {
    const depth = 30_000
    const raw = `${'['.repeat(depth)}"x\\u0000"${']'.repeat(depth)}`
    const res = await c.api('POST', '/api/v1/oidc/token', { raw, headers: { 'content-type': 'application/json' } })
    expectClean(res, 400)
    expect(res.body.error).toBe('invalid_request')
    const clean = await c.api('POST', '/api/v1/oidc/token', { raw: `${'['.repeat(depth)}${']'.repeat(depth)}`, headers: { 'content-type': 'application/json' } })
    expectClean(clean, 400)
  })

  it('a NUL in a JSON field name is refused, the name escaped in the answer', async () => {
    const res = await c.api('POST', '/api/v1/oidc/token', { raw: '{"provider":"github","token":"a.b.c","x\\u0000y":1}', headers: { 'content-type': 'application/json' } })
    expectClean(res, 400)
    expect(res.body.error_description).toContain('["x\\u0000y"]')
    expect(res.body.error_description).not.toContain('\u0000')
  })

  it('text with a NUL is judged before the route: explain, revoke, federate and the admin API alike', async () => {
    const nul = { provider: 'github', token: 'a.b.c', agentId: '\u0000' }
    expectClean(await c.api('POST', '/api/v1/oidc/explain', { body: nul }), 400)
    expectClean(await c.api('POST', '/api/v1/oauth/revoke', { body: { token: 'x\u0000' } }), 400)
    const federate = await c.api('POST', '/v1/identity/federate', { body: { note: '\u0000' }, headers: { authorization: 'Bearer a.b.c' } })
    expectClean(federate, 400)
    expect(federate.body).toMatchObject({ success: false, code: 'invalid_request' })
    expectClean(await c.admin('POST', '/api/v1/oidc/trust-policies', { provider: 'github', repository: 'acme/widgets', branch: 'main\ud800' }), 400)
  })

  it('a bad Idempotency-Key header is a 400', async () => {
    await c.policy({ repository: 'acme/widgets' })
    const token = await c.bootstrap()
    const res = await c.api('POST', '/api/v1/agents', { token, body: { name: 'k@acme.example' }, headers: { 'idempotency-key': 'x'.repeat(300) } })
    expectClean(res, 400)
  })

  it('JWKS and healthz answer', async () => {
    const health = await c.api('GET', '/healthz')
    expect(health.status).toBe(200)
    expect(health.body).toEqual({ status: 'ok' })
    const jwks = await c.api('GET', '/.well-known/jwks.json')
    expect(jwks.body.keys[0]).toMatchObject({ kty: 'EC', alg: 'ES256', use: 'sig' })
    expect(Object.keys(jwks.body.keys[0])).not.toContain('d')
  })

  it('the admin token never appears in an answer', async () => {
    const res = await c.admin('GET', '/api/v1/audit')
    expect(res.text).not.toContain(ADMIN_TOKEN)
  })
})

describe('rate limits', () => {
  let limited: TestServer
  beforeAll(async () => {
    limited = await startTestServer({ RATE_LIMIT_BURST: '3', RATE_LIMIT_PER_MINUTE: '1' })
  })
  afterAll(() => limited.close())

  it('answers 429 rate_limited with Retry-After once a repository spent its burst, per repository', async () => {
    const lc = client(limited)
    const statuses: number[] = []
    for (let i = 0; i < 4; i++) statuses.push((await lc.federate()).status)
    expect(statuses).toEqual([201, 200, 200, 429])
    const res = await lc.federate()
    expect(res.status).toBe(429)
    expect(res.body).toMatchObject({ success: false, code: 'rate_limited' })
    expect(Number(res.headers.get('retry-after'))).toBeGreaterThanOrEqual(1)
    const exchange = await lc.exchange()
    expect(exchange.status).toBe(429)
    expect(exchange.body.error).toBe('rate_limited')
    // Another repository still has its own budget.
    expect((await lc.federate({ repository: 'else/where', repositoryId: '99', ownerId: '9' })).status).toBe(201)
  })

  it('the default allows a burst of 100 from one repository', async () => {
    const cc = client(server)
    const repo = { repository: 'burst/repo', repositoryId: '100100', ownerId: '1' }
    const results = await Promise.all(Array.from({ length: 100 }, () => cc.federate(repo)))
    expect(results.filter((r) => r.status === 429)).toHaveLength(0)
  })
})
