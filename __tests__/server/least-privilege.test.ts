/**
 * Least privilege on the exchange: trust policies grant scopes, audiences and a longest
 * lifetime; agents carry an owner, a scope cap, an expiry and can have every credential
 * rotated at once; issued JWTs are RFC 9068 access tokens.
 */
import { describe, expect, it } from '@jest/globals'
import type { FastifyInstance } from 'fastify'
import * as oauth from 'oauth4webapi'
import { agentExpired } from '../../shared/server/routes/exchange/exchange'
import type { Agent } from '../../shared/server/store/store'
import { ADMIN_TOKEN, freshIdentity, givenAgent, givenBootstrapPolicy, oidcToken, useTestServer, type GivenAgent } from './helpers'

const { server, client: c } = useTestServer()

const API = 'https://api.example.com'

function decode(token: string): { header: Record<string, unknown>; claims: Record<string, unknown> } {
  const [header, payload] = token.split('.') as [string, string]
  return { header: JSON.parse(Buffer.from(header, 'base64url').toString()), claims: JSON.parse(Buffer.from(payload, 'base64url').toString()) }
}

/** An agent of a fresh repository whose policy carries `policy` (scopes, audiences, maxTtl). */
async function agentWith(policy: Record<string, unknown>, registration: Record<string, unknown> = {}): Promise<GivenAgent> {
  const identity = freshIdentity('lp')
  await givenBootstrapPolicy(server, identity)
  const agent = await givenAgent(server, identity, `lp-${Math.random().toString(36).slice(2)}@agents.example`, { policy, registration })
  expect(agent.created).toBe(true)
  return agent
}

async function exchangeFor(agent: GivenAgent, extra: Record<string, unknown> = {}) {
  return c.exchange(agent.identity, { agentId: agent.agentId, ...extra })
}

async function introspect(token: string) {
  return c.api('POST', '/api/v1/oauth/introspect', { token: ADMIN_TOKEN, body: { token } })
}

async function auditOf(agentId: string): Promise<Array<{ action: string; detail: Record<string, unknown> }>> {
  const res = await c.admin('GET', `/api/v1/agents/${agentId}/audit`)
  expect(res.status).toBe(200)
  return res.body.items
}

describe('scopes granted by an agent policy', () => {
  it('nothing asked: every scope of the policy, for the server as audience', async () => {
    const agent = await agentWith({ scopes: ['deploy', 'read'] })
    const res = await exchangeFor(agent)
    expect(res.status).toBe(200)
    expect(res.body.scope).toBe('deploy read')
    const { header, claims } = decode(res.body.access_token)
    expect(header.typ).toBe('at+jwt')
    expect(claims).toMatchObject({ scope: 'deploy read', aud: server.url, iss: server.url, sub: agent.agentId, client_id: agent.agentId })
    expect(typeof claims.jti).toBe('string')
    expect(typeof claims.iat).toBe('number')
    expect(claims.exp).toBe((claims.iat as number) + res.body.expires_in)
    const issued = (await auditOf(agent.agentId)).find((e) => e.action === 'token.exchange' && e.detail.outcome === 'issued')
    expect(issued?.detail).toMatchObject({ scope: 'deploy read', audience: server.url, policyId: agent.policyId })
  })

  it('a subset asked: exactly that subset', async () => {
    const agent = await agentWith({ scopes: ['deploy', 'read', 'write'] })
    const res = await exchangeFor(agent, { scope: 'write read' })
    expect(res.status).toBe(200)
    expect(res.body.scope).toBe('read write')
    expect(decode(res.body.access_token).claims.scope).toBe('read write')
  })

  it('a superset asked: 400 invalid_scope naming the allowed scopes, audited with its code', async () => {
    const agent = await agentWith({ scopes: ['deploy', 'read'] })
    const res = await exchangeFor(agent, { scope: 'read admin' })
    expect(res.status).toBe(400)
    expect(res.body.error).toBe('invalid_scope')
    expect(res.body.error_description).toContain('"admin"')
    expect(res.body.error_description).toContain('allowed: "deploy", "read"')
    const denial = (await auditOf(agent.agentId)).find((e) => e.action === 'token.exchange' && e.detail.outcome === 'denied')
    expect(denial?.detail).toMatchObject({ code: 'invalid_scope', policyId: agent.policyId })
  })

  it("the agent's allowedScopes cap the policy's", async () => {
    const agent = await agentWith({ scopes: ['deploy', 'read'] }, { allowedScopes: ['read', 'other'] })
    const res = await exchangeFor(agent)
    expect(res.status).toBe(200)
    expect(res.body.scope).toBe('read')
    const refused = await exchangeFor(agent, { scope: 'deploy' })
    expect(refused.status).toBe(400)
    expect(refused.body.error).toBe('invalid_scope')
    expect(refused.body.error_description).toContain('allowed: "read"')
  })

  it('a policy without scopes issues exactly what it did before: agent / agents:write, the same claims plus client_id', async () => {
    const agent = await agentWith({})
    const res = await exchangeFor(agent)
    expect(res.status).toBe(200)
    expect(res.body.scope).toBe('agent')
    expect(Object.keys(res.body).sort()).toEqual(['access_token', 'agent_id', 'expires_at', 'expires_in', 'scope', 'token_type'])
    const { header, claims } = decode(res.body.access_token)
    expect(header).toMatchObject({ typ: 'at+jwt' })
    expect(Object.keys(claims).sort()).toEqual(['aud', 'client_id', 'exp', 'iat', 'iss', 'jti', 'repository', 'repository_id', 'scope', 'sub'])
    expect(claims).toMatchObject({ scope: 'agent', aud: server.url, sub: agent.agentId, client_id: agent.agentId, repository: agent.identity.repository })
    expect((await exchangeFor(agent, { scope: 'agent' })).status).toBe(200)
    const asked = await exchangeFor(agent, { scope: 'deploy' })
    expect(asked.status).toBe(400)
    expect(asked.body.error).toBe('invalid_scope')
    expect(asked.body.error_description).toContain('allowed: "agent"')

    const boot = await c.exchange(agent.identity)
    expect(boot.status).toBe(200)
    expect(boot.body.scope).toBe('agents:write')
    const bootClaims = decode(boot.body.access_token).claims
    expect(bootClaims).toMatchObject({ scope: 'agents:write', aud: server.url, sub: `repo:${agent.identity.repository}`, client_id: `repo:${agent.identity.repository}` })
    const bootAsked = await c.exchange(agent.identity, { scope: 'agent' })
    expect(bootAsked.status).toBe(400)
    expect(bootAsked.body.error).toBe('invalid_scope')
    expect(bootAsked.body.error_description).toContain('allowed: "agents:write"')
  })

  it('refuses scopes on a bootstrap policy and malformed grants', async () => {
    const identity = freshIdentity('lp-policy')
    const bad: Array<[Record<string, unknown>, string]> = [
      [{ scopes: ['read'] }, 'only for agent policies'],
      [{ audiences: ['has space'] }, 'audiences'],
      [{ audiences: Array.from({ length: 17 }, (_, i) => `aud-${i}`) }, 'audiences'],
      [{ maxTtl: 59 }, 'maxTtl'],
      [{ maxTtl: 86401 }, 'maxTtl']
    ]
    for (const [fields, text] of bad) {
      const res = await c.admin('POST', '/api/v1/oidc/trust-policies', { provider: 'github', repository: identity.repository, ...fields })
      expect(res.status).toBe(400)
      expect(res.body.error).toBe('invalid_request')
      expect(res.body.error_description).toContain(text)
    }
    const agent = await agentWith({})
    for (const scopes of [['bad scope'], ['agents:write'], [], Array.from({ length: 33 }, (_, i) => `s${i}`), ['x'.repeat(65)]]) {
      const res = await c.admin('POST', '/api/v1/oidc/trust-policies', { provider: 'github', repository: agent.identity.repository, agentId: agent.agentId, scopes })
      expect(res.status).toBe(400)
    }
    const ok = await c.admin('POST', '/api/v1/oidc/trust-policies', {
      provider: 'github',
      repository: agent.identity.repository,
      agentId: agent.agentId,
      scopes: ['db:read', 'deploy.prod_1-x'],
      audiences: [API, 'internal-name'],
      maxTtl: 60
    })
    expect(ok.status).toBe(201)
    expect(ok.body).toMatchObject({ scopes: ['db:read', 'deploy.prod_1-x'], audiences: [API, 'internal-name'], maxTtl: 60 })
  })
})

describe('audiences', () => {
  it('an audience the policy does not name: 400 invalid_target naming the allowed ones', async () => {
    const agent = await agentWith({ audiences: [API] })
    const res = await exchangeFor(agent, { audience: 'https://evil.example' })
    expect(res.status).toBe(400)
    expect(res.body.error).toBe('invalid_target')
    expect(res.body.error_description).toContain(`allowed: ${JSON.stringify(server.url)}, ${JSON.stringify(API)}`)
    const denial = (await auditOf(agent.agentId)).find((e) => e.action === 'token.exchange' && e.detail.outcome === 'denied')
    expect(denial?.detail).toMatchObject({ code: 'invalid_target' })
    const noAudiences = await agentWith({})
    const refused = await exchangeFor(noAudiences, { audience: API })
    expect(refused.status).toBe(400)
    expect(refused.body.error).toBe('invalid_target')
  })

  it("a token for another audience is no credential of the server's endpoints, but is introspected and revoked", async () => {
    const identity = freshIdentity('lp-aud')
    await givenBootstrapPolicy(server, identity, { audiences: [API] })
    const res = await c.exchange(identity, { audience: API })
    expect(res.status).toBe(200)
    expect(res.body.scope).toBe('agents:write')
    const token = res.body.access_token as string
    expect(decode(token).claims.aud).toBe(API)
    const register = await c.api('POST', '/api/v1/agents', { token, body: { name: 'lp-other-aud@agents.example' } })
    expect(register.status).toBe(401)
    const own = await c.exchange(identity, { audience: server.url })
    expect((await c.api('POST', '/api/v1/agents', { token: own.body.access_token, body: { name: 'lp-own-aud@agents.example' } })).status).toBe(201)

    const active = await introspect(token)
    expect(active.body).toMatchObject({ active: true, aud: API, scope: 'agents:write' })
    expect((await c.api('POST', '/api/v1/oauth/revoke', { body: { token } })).status).toBe(200)
    expect((await introspect(token)).body).toEqual({ active: false })
  })

  it("oauth4webapi's validateJwtAccessToken accepts a token for its audience and refuses it for another", async () => {
    const agent = await agentWith({ scopes: ['read'], audiences: [API] })
    const res = await exchangeFor(agent, { audience: API })
    expect(res.status).toBe(200)
    const as: oauth.AuthorizationServer = { issuer: server.url, jwks_uri: `${server.url}/.well-known/jwks.json` }
    const options = { [oauth.allowInsecureRequests]: true }
    const request = () => new Request(`${API}/resource`, { headers: { authorization: `Bearer ${res.body.access_token}` } })
    const claims = await oauth.validateJwtAccessToken(as, request(), API, options)
    expect(claims).toMatchObject({ aud: API, client_id: agent.agentId, sub: agent.agentId, scope: 'read', iss: server.url })
    await expect(oauth.validateJwtAccessToken(as, request(), server.url, options)).rejects.toThrow()
    await expect(oauth.validateJwtAccessToken(as, request(), 'https://other.example', options)).rejects.toThrow()
  })
})

describe('lifetime', () => {
  it('capped by the policy maxTtl, the request and ACCESS_TOKEN_TTL', async () => {
    const agent = await agentWith({ maxTtl: 120 })
    expect((await exchangeFor(agent)).body.expires_in).toBe(120)
    expect((await exchangeFor(agent, { ttl: 600 })).body.expires_in).toBe(120)
    expect((await exchangeFor(agent, { ttl: 61 })).body.expires_in).toBe(61)
    const uncapped = await agentWith({})
    expect((await exchangeFor(uncapped)).body.expires_in).toBe(server.context.config.accessTokenTtlSeconds)
  })
})

describe('explain reports the grant', () => {
  it('scope, audience and expiresIn when allowed; the 400 code when the request asks too much', async () => {
    const agent = await agentWith({ scopes: ['deploy', 'read'], audiences: [API], maxTtl: 300 })
    const explain = async (extra: Record<string, unknown>) =>
      c.api('POST', '/api/v1/oidc/explain', { body: { provider: 'github', token: await oidcToken(server, server.url, agent.identity), agentId: agent.agentId, ...extra } })
    const all = await explain({})
    expect(all.status).toBe(200)
    expect(all.body).toMatchObject({ allowed: true, policyId: agent.policyId, scope: 'deploy read', audience: server.url, expiresIn: 300 })
    const some = await explain({ scope: 'read', audience: API, ttl: 100 })
    expect(some.body).toMatchObject({ allowed: true, scope: 'read', audience: API, expiresIn: 100 })
    const tooMuch = await explain({ scope: 'admin' })
    expect(tooMuch.body).toMatchObject({ allowed: false, code: 'invalid_scope' })
    const elsewhere = await explain({ audience: 'https://elsewhere.example' })
    expect(elsewhere.body).toMatchObject({ allowed: false, code: 'invalid_target' })
  })
})

describe('agent expiry', () => {
  it('from expiresAt on, with no tolerance, every exchange is 403 agent_expired (audited); explain says so', async () => {
    const agent = await agentWith({})
    const expiresAt = new Date(Date.now() + server.clock.offsetMs + 30_000)
    const patched = await c.admin('PATCH', `/api/v1/agents/${agent.agentId}`, { expiresAt: expiresAt.toISOString() })
    expect(patched.status).toBe(200)
    const before = await exchangeFor(agent)
    expect(before.status).toBe(200)
    try {
      // The server's clock at (a few ms past) expiresAt.
      server.clock.offsetMs = expiresAt.getTime() - Date.now()
      const res = await exchangeFor(agent)
      expect(res.status).toBe(403)
      expect(res.body.error).toBe('agent_expired')
      const explained = await c.api('POST', '/api/v1/oidc/explain', {
        body: { provider: 'github', token: await oidcToken(server, server.url, agent.identity), agentId: agent.agentId }
      })
      expect(explained.body).toMatchObject({ allowed: false, code: 'agent_expired' })
      // Its live tokens end with it.
      expect((await introspect(before.body.access_token)).body).toEqual({ active: false })
    } finally {
      server.clock.offsetMs = 0
    }
    const denial = (await auditOf(agent.agentId)).find((e) => e.action === 'token.exchange' && e.detail.outcome === 'denied')
    expect(denial?.detail).toMatchObject({ code: 'agent_expired' })
  })

  it('the boundary is the instant itself', () => {
    const at = new Date('2030-01-01T00:00:00.000Z')
    const app = (now: Date) => ({ now: () => now }) as unknown as FastifyInstance
    const agent = { id: 'a', expiresAt: at } as Agent
    expect(agentExpired(app(new Date(at.getTime() - 1)), agent)).toBeUndefined()
    expect(agentExpired(app(at), agent)?.code).toBe('agent_expired')
    expect(agentExpired(app(at), { ...agent, expiresAt: null })).toBeUndefined()
  })
})

describe('agent fields and PATCH', () => {
  it('registration takes owner, allowedScopes and expiresAt and answers them; GET shows them', async () => {
    const identity = freshIdentity('lp-reg')
    await givenBootstrapPolicy(server, identity)
    const expiresAt = new Date(Date.now() + 86_400_000).toISOString()
    const token = await c.bootstrap(identity)
    const res = await c.api('POST', '/api/v1/agents', { token, body: { name: 'lp-reg@agents.example', owner: 'team-infra', allowedScopes: ['read'], expiresAt } })
    expect(res.status).toBe(201)
    expect(res.body).toMatchObject({ owner: 'team-infra', allowedScopes: ['read'], expiresAt })
    const shown = await c.admin('GET', `/api/v1/agents/${res.body.agentId}`)
    expect(shown.body).toMatchObject({ owner: 'team-infra', allowedScopes: ['read'], expiresAt, lastRotatedAt: null, lastUsedAt: null })

    const past = await c.api('POST', '/api/v1/agents', { token, body: { name: 'lp-past@agents.example', expiresAt: new Date(Date.now() - 1000).toISOString() } })
    expect(past.status).toBe(400)
    expect(past.body.error_description).toContain('future')
    const garbage = await c.api('POST', '/api/v1/agents', { token, body: { name: 'lp-bad@agents.example', expiresAt: 'tomorrow' } })
    expect(garbage.status).toBe(400)
    const badScope = await c.api('POST', '/api/v1/agents', { token, body: { name: 'lp-bad@agents.example', allowedScopes: ['no spaces'] } })
    expect(badScope.status).toBe(400)
    const longOwner = await c.api('POST', '/api/v1/agents', { token, body: { name: 'lp-bad@agents.example', owner: 'x'.repeat(257) } })
    expect(longOwner.status).toBe(400)
  })

  it('the admin changes any of the three, null clears; refusals name the field', async () => {
    const agent = await agentWith({ scopes: ['deploy', 'read'] })
    const path = `/api/v1/agents/${agent.agentId}`
    const changed = await c.admin('PATCH', path, { owner: 'alice@acme.example', allowedScopes: ['deploy'] })
    expect(changed.status).toBe(200)
    expect(changed.body).toMatchObject({ owner: 'alice@acme.example', allowedScopes: ['deploy'], expiresAt: null })
    expect((await exchangeFor(agent)).body.scope).toBe('deploy')
    const cleared = await c.admin('PATCH', path, { allowedScopes: null })
    expect(cleared.body).toMatchObject({ owner: 'alice@acme.example', allowedScopes: null })
    expect((await exchangeFor(agent)).body.scope).toBe('deploy read')
    expect((await c.admin('PATCH', path, { owner: null })).body.owner).toBeNull()
    const audit = await auditOf(agent.agentId)
    expect(audit.filter((e) => e.action === 'agent.update')).toHaveLength(3)

    expect((await c.admin('PATCH', path, { allowedScopes: ['bad scope'] })).body.error_description).toContain('allowedScopes')
    expect((await c.admin('PATCH', path, { expiresAt: '2030-01-01' })).body.error_description).toContain('expiresAt')
    expect((await c.admin('PATCH', path, { name: 'renamed@agents.example' })).status).toBe(400)
    expect((await c.admin('PATCH', path, {})).status).toBe(400)
    expect((await c.admin('PATCH', '/api/v1/agents/00000000-0000-4000-8000-000000000000', { owner: 'x' })).status).toBe(404)
    expect((await c.api('PATCH', path, { body: { owner: 'x' } })).status).toBe(401)
  })
})

describe('rotation', () => {
  it('revokes every live credential at once, answers the count, audits agent.rotate, and the agent exchanges again', async () => {
    const agent = await agentWith({})
    const first = await agent.token()
    const second = await agent.token()
    expect((await introspect(first)).body.active).toBe(true)
    const res = await c.admin('POST', `/api/v1/agents/${agent.agentId}/credentials/rotate`)
    expect(res.status).toBe(200)
    expect(res.body.revoked).toBe(2)
    expect(res.body.agent).toMatchObject({ agentId: agent.agentId, status: 'active' })
    expect(typeof res.body.agent.lastRotatedAt).toBe('string')
    expect((await introspect(first)).body).toEqual({ active: false })
    expect((await introspect(second)).body).toEqual({ active: false })
    const rotation = (await auditOf(agent.agentId)).find((e) => e.action === 'agent.rotate')
    expect(rotation?.detail).toMatchObject({ revoked: 2 })

    const fresh = await agent.token()
    expect((await introspect(fresh)).body.active).toBe(true)
    const again = await c.admin('POST', `/api/v1/agents/${agent.agentId}/credentials/rotate`)
    expect(again.body.revoked).toBe(1)
    expect((await c.admin('POST', '/api/v1/agents/00000000-0000-4000-8000-000000000000/credentials/rotate')).status).toBe(404)
    expect((await c.api('POST', `/api/v1/agents/${agent.agentId}/credentials/rotate`)).status).toBe(401)
  })
})
