import { beforeAll, describe, expect, it } from '@jest/globals'
import { createLocalJWKSet, jwtVerify } from 'jose'
import { githubClaims } from '../../shared/testing/oidc-issuer'
import { ACME, ADMIN_TOKEN, OTHER, freshIdentity, givenAgent, givenBootstrapPolicy, oidcToken, useTestServer } from './helpers'

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/

// One server for the file. ACME may bootstrap from main: the one fixture the tests share;
// every other scenario (agents, their policies, other repositories) is built by the test that needs it.
const { server, client: c } = useTestServer()
let bootstrapPolicy: string
beforeAll(async () => {
  bootstrapPolicy = await givenBootstrapPolicy(server, ACME, { branch: 'main' })
})

describe('trust policies (admin)', () => {
  it('creates, lists and deletes a policy', async () => {
    const created = await c.admin('POST', '/api/v1/oidc/trust-policies', {
      provider: 'github',
      repository: 'crud/repo',
      branch: 'main',
      repositoryId: '1',
      events: ['push']
    })
    expect(created.status).toBe(201)
    expect(created.body).toMatchObject({ provider: 'github', repository: 'crud/repo', branch: 'main', repositoryId: '1', events: ['push'] })
    expect(created.body.id).toMatch(UUID)
    expect(Date.parse(created.body.createdAt)).not.toBeNaN()

    const list = await c.admin('GET', '/api/v1/oidc/trust-policies')
    expect(list.status).toBe(200)
    expect(list.body.items.map((p: { id: string }) => p.id)).toContain(created.body.id)

    const del = await c.admin('DELETE', `/api/v1/oidc/trust-policies/${created.body.id}`)
    expect(del.status).toBe(204)
    const again = await c.admin('DELETE', `/api/v1/oidc/trust-policies/${created.body.id}`)
    expect(again.status).toBe(404)
    const after = await c.admin('GET', '/api/v1/oidc/trust-policies')
    expect(after.body.items.map((p: { id: string }) => p.id)).not.toContain(created.body.id)
  })

  it('refuses a malformed repository with a 400 and a reason', async () => {
    const res = await c.admin('POST', '/api/v1/oidc/trust-policies', { provider: 'github', repository: 'not a repo' })
    expect(res.status).toBe(400)
    expect(res.body.error).toBe('invalid_request')
    expect(res.body.error_description).toMatch(/repository/)
  })

  it('refuses a policy for an agent that does not exist', async () => {
    const res = await c.admin('POST', '/api/v1/oidc/trust-policies', {
      provider: 'github',
      repository: 'acme/widgets',
      agentId: '00000000-0000-4000-8000-000000000000'
    })
    expect(res.status).toBe(400)
  })

  it('needs the admin token (401 without it, 401 with a wrong one)', async () => {
    const none = await c.api('GET', '/api/v1/oidc/trust-policies')
    expect(none.status).toBe(401)
    expect(none.body.error).toBe('invalid_token')
    const wrong = await c.api('GET', '/api/v1/oidc/trust-policies', { token: ADMIN_TOKEN + 'x' })
    expect(wrong.status).toBe(401)
    const post = await c.api('POST', '/api/v1/oidc/trust-policies', { body: { provider: 'github', repository: 'a/b' } })
    expect(post.status).toBe(401)
  })
})

describe('bootstrap, register, agent-scoped issue', () => {
  it('bootstrap exchange issues an agents:write token signed by the server', async () => {
    const res = await c.exchange()
    expect(res.status).toBe(200)
    expect(res.headers.get('cache-control')).toBe('no-store')
    expect(res.body).toMatchObject({ token_type: 'Bearer', expires_in: 900, scope: 'agents:write' })
    expect(res.body.agent_id).toBeUndefined()
    expect(Math.abs(Date.parse(res.body.expires_at) - (Date.now() + 900_000))).toBeLessThan(10_000)

    const jwks = await c.api('GET', '/.well-known/jwks.json')
    expect(jwks.body.keys.length).toBeGreaterThan(0)
    expect(jwks.body.keys[0].d).toBeUndefined()
    const { payload } = await jwtVerify(res.body.access_token, createLocalJWKSet(jwks.body), {
      issuer: server.url,
      audience: server.url
    })
    expect(payload.sub).toBe('repo:acme/widgets')
    expect(payload.scope).toBe('agents:write')
    expect(payload.jti).toMatch(UUID)
    expect(payload.exp! - payload.iat!).toBe(900)
  })

  it('ttl only shortens the lifetime', async () => {
    const shorter = await c.exchange(ACME, { ttl: 120 })
    expect(shorter.body.expires_in).toBe(120)
    const longer = await c.exchange(ACME, { ttl: 7200 })
    expect(longer.body.expires_in).toBe(900)
  })

  it('registers an agent (201), then the same name again from the same repository (200, created false)', async () => {
    const token = await c.bootstrap()
    const first = await c.api('POST', '/api/v1/agents', { token, body: { name: 'ci-bot@acme.example', description: 'CI' } })
    expect(first.status).toBe(201)
    expect(first.body).toMatchObject({ name: 'ci-bot@acme.example', description: 'CI', created: true })
    expect(first.body.agentId).toMatch(UUID)
    const agentId = first.body.agentId

    const again = await c.api('POST', '/api/v1/agents', { token: await c.bootstrap(), body: { name: 'ci-bot@acme.example', description: 'CI' } })
    expect(again.status).toBe(200)
    expect(again.body).toMatchObject({ agentId, created: false })
  })

  it('refuses the same name from another repository with 409 agent_exists', async () => {
    await givenAgent(server, ACME, 'taken@acme.example')
    const other = freshIdentity('other')
    await givenBootstrapPolicy(server, other)
    const token = await c.bootstrap(other)
    const res = await c.api('POST', '/api/v1/agents', { token, body: { name: 'taken@acme.example' } })
    expect(res.status).toBe(409)
    expect(res.body.error).toBe('agent_exists')
  })

  it('refuses a name that is not e-mail shaped', async () => {
    const res = await c.api('POST', '/api/v1/agents', { token: await c.bootstrap(), body: { name: 'no spaces allowed' } })
    expect(res.status).toBe(400)
    expect(res.body.error).toBe('invalid_request')
  })

  it('register needs a bearer (401) with scope agents:write (403 insufficient_scope)', async () => {
    const none = await c.api('POST', '/api/v1/agents', { body: { name: 'x@acme.example' } })
    expect(none.status).toBe(401)
    expect(none.body.error).toBe('invalid_token')
    const garbage = await c.api('POST', '/api/v1/agents', { token: 'a.b.c', body: { name: 'x@acme.example' } })
    expect(garbage.status).toBe(401)
    const oidc = await c.api('POST', '/api/v1/agents', { token: await oidcToken(server, server.url), body: { name: 'x@acme.example' } })
    expect(oidc.status).toBe(401)

    const agentToken = await (await givenAgent(server, ACME)).token()
    const scoped = await c.api('POST', '/api/v1/agents', { token: agentToken, body: { name: 'x@acme.example' } })
    expect(scoped.status).toBe(403)
    expect(scoped.body.error).toBe('insufficient_scope')
  })

  it('register with an expired bootstrap token is a 401', async () => {
    const token = await c.bootstrap()
    server.clock.offsetMs = 901_000
    try {
      const res = await c.api('POST', '/api/v1/agents', { token, body: { name: 'late@acme.example' } })
      expect(res.status).toBe(401)
      expect(res.body.error_description).toMatch(/expired/)
    } finally {
      server.clock.offsetMs = 0
    }
  })

  it('agent-scoped exchange issues a token whose subject is the agent', async () => {
    const { agentId } = await givenAgent(server, ACME)
    const res = await c.exchange(ACME, { agentId })
    expect(res.status).toBe(200)
    expect(res.body).toMatchObject({ scope: 'agent', agent_id: agentId, token_type: 'Bearer' })
    const claims = JSON.parse(Buffer.from(res.body.access_token.split('.')[1], 'base64url').toString())
    expect(claims).toMatchObject({ sub: agentId, scope: 'agent', iss: server.url, aud: server.url })
  })

  it('agent-scoped exchange without a policy naming the agent is 403 trust_policy_violation', async () => {
    const token = await c.bootstrap()
    const reg = await c.api('POST', '/api/v1/agents', { token, body: { name: 'nopolicy@acme.example' } })
    const res = await c.exchange(ACME, { agentId: reg.body.agentId })
    expect(res.status).toBe(403)
    expect(res.body.error).toBe('trust_policy_violation')
    expect(typeof res.body.error_description).toBe('string')
  })

  it('unknown agentId is 404 agent_not_found, checked before the trust policies', async () => {
    // A repository without any policy: were policies judged first, this would be a 403.
    const res = await c.exchange(freshIdentity('unpoliced'), { agentId: '00000000-0000-4000-8000-000000000000' })
    expect(res.status).toBe(404)
    expect(res.body.error).toBe('agent_not_found')
  })

  it('a branch the policy does not name is 403 branch_not_permitted', async () => {
    const token = await server.issuer.mint({ audience: server.url, claims: githubClaims({ ...ACME, ref: 'refs/heads/dev' }) })
    const res = await c.api('POST', '/api/v1/oidc/token', { body: { provider: 'github', token } })
    expect(res.status).toBe(403)
    expect(res.body.error).toBe('branch_not_permitted')
  })

  it('an event the policy does not allow is 403 event_not_permitted', async () => {
    const token = await server.issuer.mint({
      audience: server.url,
      claims: githubClaims({ ...ACME, eventName: 'pull_request_target' })
    })
    const res = await c.api('POST', '/api/v1/oidc/token', { body: { provider: 'github', token } })
    expect(res.status).toBe(403)
    expect(res.body.error).toBe('event_not_permitted')
  })

  it('a repository with no policy is 403 trust_policy_violation', async () => {
    const res = await c.exchange({ repository: 'nobody/here', repositoryId: '55', ownerId: '56' })
    expect(res.status).toBe(403)
    expect(res.body.error).toBe('trust_policy_violation')
  })

  it('explain answers allowed with the policy id, and denied with the reason, issuing nothing', async () => {
    const allowed = await c.api('POST', '/api/v1/oidc/explain', {
      body: { provider: 'github', token: await oidcToken(server, server.url) }
    })
    expect(allowed.status).toBe(200)
    expect(allowed.body.allowed).toBe(true)
    expect(allowed.body.policyId).toBe(bootstrapPolicy)
    expect(allowed.body.claims).toMatchObject({ repository: 'acme/widgets', ref: 'refs/heads/main' })
    expect(allowed.body.access_token).toBeUndefined()

    const devToken = await server.issuer.mint({ audience: server.url, claims: githubClaims({ ...ACME, ref: 'refs/heads/dev' }) })
    const denied = await c.api('POST', '/api/v1/oidc/explain', { body: { provider: 'github', token: devToken } })
    expect(denied.status).toBe(200)
    expect(denied.body.allowed).toBe(false)
    expect(typeof denied.body.reason).toBe('string')
    const real = await c.api('POST', '/api/v1/oidc/token', { body: { provider: 'github', token: devToken } })
    expect(real.body.error_description).toBe(denied.body.reason)

    const invalid = await c.api('POST', '/api/v1/oidc/explain', {
      body: { provider: 'github', token: await oidcToken(server, 'wrong-audience') }
    })
    expect(invalid.status).toBe(401)
  })
})

describe('credentials, introspection, revocation, disable, audit', () => {
  // Each test has an agent of its own: one disables it, another counts its audit events.
  const repo = { repository: 'life/cycle', repositoryId: '777', ownerId: '778' }

  it('GET /agents/{id} shows the identity', async () => {
    const { agentId } = await givenAgent(server, repo, 'life@acme.example', { description: 'lifecycle' })
    const res = await c.admin('GET', `/api/v1/agents/${agentId}`)
    expect(res.status).toBe(200)
    expect(res.body).toMatchObject({ agentId, name: 'life@acme.example', description: 'lifecycle', repository: 'life/cycle', repositoryId: '777', status: 'active' })
    const missing = await c.admin('GET', '/api/v1/agents/00000000-0000-4000-8000-000000000000')
    expect(missing.status).toBe(404)
  })

  it('introspects an active token, revokes it (RFC 7009), then introspection says inactive', async () => {
    const { agentId } = await givenAgent(server, repo)
    const issued = (await c.exchange(repo, { agentId })).body.access_token as string
    const active = await c.admin('POST', '/api/v1/oauth/introspect', { token: issued })
    expect(active.status).toBe(200)
    expect(active.body).toMatchObject({ active: true, sub: agentId, scope: 'agent', agent_id: agentId, iss: server.url })

    const revoke = await c.api('POST', '/api/v1/oauth/revoke', {
      raw: new URLSearchParams({ token: issued, token_type_hint: 'access_token' }).toString(),
      headers: { 'content-type': 'application/x-www-form-urlencoded' }
    })
    expect(revoke.status).toBe(200)

    const inactive = await c.api('POST', '/api/v1/oauth/introspect', {
      token: ADMIN_TOKEN,
      raw: `token=${encodeURIComponent(issued)}`,
      headers: { 'content-type': 'application/x-www-form-urlencoded' }
    })
    expect(inactive.body).toEqual({ active: false })
  })

  it('revoking an unknown token is still a 200; introspection needs the admin token', async () => {
    expect((await c.api('POST', '/api/v1/oauth/revoke', { body: { token: 'nonsense' } })).status).toBe(200)
    expect((await c.api('POST', '/api/v1/oauth/introspect', { body: { token: 'nonsense' } })).status).toBe(401)
    expect((await c.admin('POST', '/api/v1/oauth/introspect', { token: 'nonsense' })).body).toEqual({ active: false })
    expect((await c.admin('POST', '/api/v1/oauth/introspect', {})).status).toBe(400)
  })

  it('lists credentials newest first and revokes one without touching the identity', async () => {
    const { agentId } = await givenAgent(server, repo)
    const older = (await c.exchange(repo, { agentId })).body.access_token as string
    const newer = (await c.exchange(repo, { agentId })).body.access_token as string
    const jti = (t: string): string => JSON.parse(Buffer.from(t.split('.')[1]!, 'base64url').toString()).jti
    const list = await c.admin('GET', `/api/v1/agents/${agentId}/credentials`)
    expect(list.status).toBe(200)
    const ids = list.body.items.map((i: { id: string }) => i.id)
    expect(ids.indexOf(jti(newer))).toBeLessThan(ids.indexOf(jti(older)))
    expect(list.body.items[0]).toMatchObject({ kind: 'agent', scope: 'agent', status: 'active', revokedAt: null })
    expect(JSON.stringify(list.body)).not.toContain(newer)

    const revoked = await c.admin('POST', `/api/v1/agents/${agentId}/credentials/${jti(older)}/revoke`)
    expect(revoked.status).toBe(200)
    expect(revoked.body.status).toBe('revoked')
    expect((await c.admin('POST', '/api/v1/oauth/introspect', { token: older })).body.active).toBe(false)
    expect((await c.admin('POST', '/api/v1/oauth/introspect', { token: newer })).body.active).toBe(true)
    expect((await c.admin('GET', `/api/v1/agents/${agentId}`)).body.status).toBe('active')

    const wrongAgent = await c.admin('POST', `/api/v1/agents/00000000-0000-4000-8000-000000000000/credentials/${jti(newer)}/revoke`)
    expect(wrongAgent.status).toBe(404)
  })

  it('audits exchanges, registration and revocations, tied to identity and credential, without tokens', async () => {
    const { agentId } = await givenAgent(server, repo)
    const issued = (await c.exchange(repo, { agentId })).body.access_token as string
    const jti = JSON.parse(Buffer.from(issued.split('.')[1]!, 'base64url').toString()).jti as string
    expect((await c.admin('POST', `/api/v1/agents/${agentId}/credentials/${jti}/revoke`)).status).toBe(200)
    const audit = await c.admin('GET', `/api/v1/agents/${agentId}/audit`)
    expect(audit.status).toBe(200)
    const actions = audit.body.items.map((e: { action: string }) => e.action)
    expect(actions).toEqual(expect.arrayContaining(['agent.register', 'token.exchange', 'credential.revoke']))
    const times = audit.body.items.map((e: { at: string }) => Date.parse(e.at))
    expect([...times].sort((a, b) => b - a)).toEqual(times)
    const exchange = audit.body.items.find((e: { action: string }) => e.action === 'token.exchange')
    expect(exchange).toMatchObject({ identityId: agentId, repository: 'life/cycle' })
    expect(exchange.credentialId).toMatch(UUID)
    expect(exchange.detail.tokenSha256).toMatch(/^[0-9a-f]{64}$/)
    expect(JSON.stringify(audit.body)).not.toMatch(/eyJ[A-Za-z0-9_-]{10,}\./)
  })

  it('audits a denial with the reason and the SHA-256 of the token', async () => {
    const token = await oidcToken(server, 'wrong-audience', repo)
    await c.api('POST', '/api/v1/oidc/token', { body: { provider: 'github', token } })
    const { createHash } = await import('node:crypto')
    const hash = createHash('sha256').update(token).digest('hex')
    const all = await c.admin('GET', '/api/v1/audit')
    const denial = all.body.items.find((e: { detail: { tokenSha256?: string } }) => e.detail.tokenSha256 === hash)
    expect(denial).toMatchObject({ action: 'token.exchange', detail: { outcome: 'denied', code: 'invalid_token' } })
    expect(JSON.stringify(all.body)).not.toContain(token)
  })

  it('disabling the identity stops its live tokens at once and refuses new ones (404)', async () => {
    const { agentId } = await givenAgent(server, repo)
    const live = (await c.exchange(repo, { agentId })).body.access_token as string
    expect((await c.admin('POST', '/api/v1/oauth/introspect', { token: live })).body.active).toBe(true)
    const disabled = await c.admin('POST', `/api/v1/agents/${agentId}/disable`)
    expect(disabled.status).toBe(200)
    expect(disabled.body.status).toBe('disabled')
    expect((await c.admin('POST', '/api/v1/oauth/introspect', { token: live })).body.active).toBe(false)
    const again = await c.exchange(repo, { agentId })
    expect(again.status).toBe(404)
    expect(again.body.error).toBe('agent_not_found')
    const audit = await c.admin('GET', `/api/v1/agents/${agentId}/audit`)
    expect(audit.body.items[0].action).toBe('token.exchange')
    expect(audit.body.items.map((e: { action: string }) => e.action)).toContain('agent.disable')
  })
})

describe('admin endpoints', () => {
  const id = '00000000-0000-4000-8000-000000000000'
  it.each([
    ['GET', '/api/v1/oidc/trust-policies'],
    ['POST', '/api/v1/oidc/trust-policies'],
    ['DELETE', `/api/v1/oidc/trust-policies/${id}`],
    ['GET', `/api/v1/agents/${id}`],
    ['GET', `/api/v1/agents/${id}/credentials`],
    ['POST', `/api/v1/agents/${id}/credentials/${id}/revoke`],
    ['POST', `/api/v1/agents/${id}/disable`],
    ['GET', `/api/v1/agents/${id}/audit`],
    ['GET', '/api/v1/audit'],
    ['POST', '/api/v1/oauth/introspect']
  ])('%s %s answers 401 without the admin token, and with an access token', async (method, path) => {
    const body = method === 'POST' ? {} : undefined
    const none = await c.api(method, path, { body })
    expect(none.status).toBe(401)
    expect(none.body.error).toBe('invalid_token')
    const bootstrap = await c.bootstrap()
    expect((await c.api(method, path, { token: bootstrap, body })).status).toBe(401)
  })
})

describe('Idempotency-Key on register', () => {
  it('replays the first response for the same key and body, 422 for another body', async () => {
    const token = await c.bootstrap()
    const headers = { 'idempotency-key': 'key-1' }
    const first = await c.api('POST', '/api/v1/agents', { token, headers, body: { name: 'idem@acme.example' } })
    expect(first.status).toBe(201)
    const replay = await c.api('POST', '/api/v1/agents', { token: await c.bootstrap(), headers, body: { name: 'idem@acme.example' } })
    expect(replay.status).toBe(201)
    expect(replay.body).toEqual(first.body)
    const other = await c.api('POST', '/api/v1/agents', { token, headers, body: { name: 'other@acme.example' } })
    expect(other.status).toBe(422)
    expect(other.body.error).toBe('idempotency_key_reused')
    const noKey = await c.api('POST', '/api/v1/agents', { token, body: { name: 'idem@acme.example' } })
    expect(noKey.status).toBe(200)
  })

  it('scopes keys to the repository and does not store errors', async () => {
    await givenAgent(server, ACME, 'acme-owned@acme.example')
    await givenBootstrapPolicy(server, OTHER)
    const headers = { 'idempotency-key': 'shared-key' }
    const otherToken = await c.bootstrap(OTHER)
    const fail = await c.api('POST', '/api/v1/agents', { token: otherToken, headers, body: { name: 'acme-owned@acme.example' } })
    expect(fail.status).toBe(409)
    const ok = await c.api('POST', '/api/v1/agents', { token: otherToken, headers, body: { name: 'other-bot@other.example' } })
    expect(ok.status).toBe(201)
    const acme = await c.api('POST', '/api/v1/agents', { token: await c.bootstrap(), headers, body: { name: 'acme-bot@acme.example' } })
    expect(acme.status).toBe(201)
    expect(acme.body.agentId).not.toBe(ok.body.agentId)
  })

  it('concurrent registrations of one name create one agent', async () => {
    const token = await c.bootstrap()
    const results = await Promise.all(Array.from({ length: 8 }, () => c.api('POST', '/api/v1/agents', { token, body: { name: 'race@acme.example' } })))
    expect(results.filter((r) => r.status === 201)).toHaveLength(1)
    expect(results.filter((r) => r.status === 200)).toHaveLength(7)
    expect(new Set(results.map((r) => r.body.agentId)).size).toBe(1)
  })
})
