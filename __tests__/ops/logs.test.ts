/**
 * Structured logs of a server process through a full flow: one JSON line per request with
 * the fields an operator filters on, and not one of the secrets the flow handled.
 */
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals'
import { fullFlow, runCli, startOps, type Ops } from './fixture'

jest.setTimeout(180_000)

interface Line {
  level: number
  msg: string
  reqId?: string
  method?: string
  route?: string
  path?: string
  status?: number
  durationMs?: number
  identity?: string
  error?: string
  [key: string]: unknown
}

describe('request logs (LOG_LEVEL=info)', () => {
  let ops: Ops
  let log: string
  let lines: Line[]

  beforeAll(async () => {
    ops = await startOps({ LOG_LEVEL: 'info' })
    await fullFlow(ops)
    // The admin CLI too: its requests carry the admin token and an introspected token.
    const env = { FEDERATE_URL: ops.server.url, FEDERATE_ADMIN_TOKEN: ops.server.adminToken }
    const agentToken = [...ops.secrets].find((s) => s.split('.').length === 3 && !s.includes(' '))!
    expect((await runCli(['token', 'introspect'], env, { stdin: agentToken })).code).toBe(0)
    expect((await runCli(['audit', 'tail'], env)).code).toBe(0)
    await ops.server.stop()
    log = ops.server.output()
    lines = log
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as Line)
  })
  afterAll(async () => ops?.close())

  it('contains none of the secrets the flow issued or used (OIDC, access, workspace and admin tokens)', () => {
    expect(ops.secrets.size).toBeGreaterThan(20)
    const kinds = { oidc: 0, access: 0, workspace: 0, admin: 0 }
    for (const secret of ops.secrets) {
      if (secret === ops.server.adminToken) kinds.admin++
      else if (secret.startsWith('fws_')) kinds.workspace++
      else if (secret.startsWith('eyJ') && JSON.parse(Buffer.from(secret.split('.')[0]!, 'base64url').toString()).alg === 'ES256') kinds.access++
      else kinds.oidc++
      expect(log).not.toContain(secret)
      // Nor a recognisable piece of one (the signature is the secret part of a JWT).
      expect(log).not.toContain(secret.slice(-24))
    }
    expect(kinds.admin).toBe(1)
    expect(kinds.oidc).toBeGreaterThan(10)
    expect(kinds.access).toBeGreaterThanOrEqual(3)
    expect(kinds.workspace).toBeGreaterThanOrEqual(3)
    // No Authorization header (the RFC 8414 metadata path has the word in its name).
    expect(log.toLowerCase().replaceAll('/.well-known/oauth-authorization-server', '')).not.toContain('authorization')
    expect(log.toLowerCase()).not.toContain('bearer ')
    expect(log.toLowerCase()).not.toContain('basic ')
  })

  it('has one JSON line per request with method, route, status, duration and request id', () => {
    const requests = lines.filter((l) => l.msg === 'request')
    // The flow's requests, the CLI's (introspect, audit tail) and the start helper's readiness probe.
    expect(requests).toHaveLength(ops.answers.length + 2 + 1)
    for (const line of requests) {
      expect(line).toMatchObject({ level: 30, method: expect.any(String), route: expect.any(String), status: expect.any(Number) })
      expect(line.durationMs).toBeGreaterThanOrEqual(0)
      expect(line.reqId).toMatch(/^[0-9a-f-]{36}$/)
    }
    expect(new Set(requests.map((l) => l.reqId)).size).toBe(requests.length)
    // The id the client saw in x-request-id is the one in the log.
    const first = ops.answers[0]!.answer.headers.get('x-request-id')
    expect(requests.find((l) => l.reqId === first)).toMatchObject({ route: '/healthz', status: 200 })
    // Routes are the templates, paths without query strings.
    expect(requests.some((l) => l.route === '/api/v1/agents/:id/credentials/:credentialId/revoke')).toBe(true)
  })

  it('names the identity once it is known, and the error code of a refusal', () => {
    const requests = lines.filter((l) => l.msg === 'request')
    const admin = requests.filter((l) => l.route === '/api/v1/oidc/trust-policies' && l.status === 201)
    expect(admin.length).toBeGreaterThan(0)
    expect(admin.every((l) => l.identity === 'admin')).toBe(true)
    expect(requests.find((l) => l.route === '/api/v1/oidc/trust-policies' && l.status === 401)).toMatchObject({ error: 'invalid_token' })
    expect(requests.find((l) => l.route === '/api/v1/oidc/token' && l.status === 200)).toMatchObject({ identity: 'repo:acme/widgets' })
    expect(requests.find((l) => l.route === '/api/v1/oidc/token' && l.status === 403)).toMatchObject({
      identity: 'repo:acme/widgets-evil',
      error: 'trust_policy_violation'
    })
    expect(requests.find((l) => l.route === '/api/v1/agents' && l.status === 201)).toMatchObject({ identity: 'repo:acme/widgets' })
    expect(requests.find((l) => l.route === '/v1/identity/federate' && l.status === 201)).toMatchObject({ identity: 'repo:acme/widgets' })
    // An invalid token proves nothing: no identity.
    const invalid = requests.find((l) => l.route === '/api/v1/oidc/token' && l.status === 401)!
    expect(invalid).toMatchObject({ error: 'invalid_token' })
    expect(invalid.identity).toBeUndefined()
  })
})

describe('LOG_LEVEL=warn (the default of the test servers)', () => {
  it('writes no request lines', async () => {
    const ops = await startOps({ LOG_LEVEL: 'warn' })
    try {
      expect((await ops.call('GET', '/healthz')).status).toBe(200)
      expect((await ops.admin('GET', '/api/v1/audit')).status).toBe(200)
    } finally {
      await ops.close()
    }
    expect(ops.server.output()).not.toContain('"msg":"request"')
  })
})

describe('logger options', () => {
  it('redact token-shaped fields and never serialize request headers, even when code logs them by mistake', async () => {
    const { pino } = await import('pino')
    const { loggerOptions } = await import('../../shared/server/logging')
    const lines: string[] = []
    const logger = pino(loggerOptions('info') as object, { write: (line: string) => void lines.push(line) })
    logger.info({ token: 'SECRET-1', body: { access_token: 'SECRET-2', adminToken: 'SECRET-3' }, headers: { authorization: 'Bearer SECRET-4' } }, 'oops')
    logger.info({ req: { method: 'POST', url: '/v1/x?token=SECRET-5', id: 'r1', headers: { authorization: 'Bearer SECRET-6' } } }, 'req')
    const text = lines.join('')
    expect(text).not.toMatch(/SECRET/)
    expect(JSON.parse(lines[1]!).req).toEqual({ method: 'POST', path: '/v1/x', id: 'r1' })
    expect(JSON.parse(lines[0]!).body).toEqual({ access_token: '[redacted]', adminToken: '[redacted]' })
  })
})
