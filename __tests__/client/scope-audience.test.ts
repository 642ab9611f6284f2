/**
 * Least privilege from the workflow: issue-token's `scope` and `token-audience`, federate's
 * `scope`, register-agent's `expires-in`, against the wire contract (nock as the server).
 * What is asked is sent only when set; what is granted is in the summary (the audience from
 * the issued JWT's own `aud`); a refusal is one message naming what the policy allows and
 * what to change; the dry run shows what would be granted.
 */
import { afterEach, describe, expect, it } from '@jest/globals'
import nock from 'nock'
import { run as runFederate } from '../../shared/client/actions/federate'
import { run as runIssueToken } from '../../shared/client/actions/issue-token'
import { run as runRegisterAgent } from '../../shared/client/actions/register-agent'
import type { RunDeps } from '../../shared/client/session'
import { stepEnv, useClientWorld } from './helpers'

const API = 'https://idp.example.test'
const AGENT_ID = '0b6f3c9e-2d7a-4c1e-9f5b-8a2e4d6c1f30'
const RESOURCE = 'https://api.acme.example'
const SIGNATURE = 'c2lnbmF0dXJlLW5vdC1jaGVja2Vk'

const world = useClientWorld({ runnerIdentity: { repository: 'acme/widgets', repositoryId: '123456789', ownerId: '4242', ref: 'refs/heads/main' } })
afterEach(() => {
  expect(nock.pendingMocks()).toEqual([])
  nock.cleanAll()
})

function deps(inputs: Record<string, string>): Partial<RunDeps> {
  return {
    core: world.rec.core,
    env: stepEnv({ 'api-url': API, 'max-attempts': '1', ...inputs }, world.issuer),
    writeSummary: async (markdown) => void world.summaries.push(markdown),
    now: world.clock.now,
    sleep: world.clock.sleep,
    random: world.clock.random
  }
}

/** An access token shaped like the server's: a JWT whose payload carries aud and scope. */
function accessToken(claims: Record<string, unknown>): string {
  const part = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString('base64url')
  return `${part({ alg: 'ES256', typ: 'at+jwt', kid: 'k1' })}.${part({ iss: API, sub: AGENT_ID, jti: 'j1', ...claims })}.${SIGNATURE}`
}

function exchangeOk(token: string, scope: string, expiresIn = 300): Record<string, unknown> {
  return {
    access_token: token,
    token_type: 'Bearer',
    expires_in: expiresIn,
    expires_at: new Date(world.clock.now() + expiresIn * 1000).toISOString(),
    scope,
    agent_id: AGENT_ID
  }
}

/** Nothing printed or summarised holds the tokens. */
function expectNoSecretPrinted(secrets: string[]): void {
  const printed = world.rec.calls
    .filter(([method, name]) => method !== 'setSecret' && !(method === 'setOutput' && ['access-token', 'token'].includes(name!)) && method !== 'saveState')
    .map((call) => call.join(' '))
    .join('\n')
  for (const secret of [...world.issuer.issuedByRunner, ...secrets]) {
    expect(printed).not.toContain(secret)
    expect(world.summaries.join('\n')).not.toContain(secret)
  }
  // The signature part of a JWT is never printed either (the whole token is scrubbed).
  expect(printed).not.toContain(SIGNATURE)
}

describe('issue-token: scope and token-audience', () => {
  it('sends neither field when the inputs are not set, as before', async () => {
    const token = accessToken({ aud: API, scope: 'agent' })
    nock(API)
      .post('/api/v1/oidc/token', (body) => body.agentId === AGENT_ID && !('scope' in body) && !('audience' in body))
      .reply(200, exchangeOk(token, 'agent'))
    await runIssueToken(deps({ 'agent-id': AGENT_ID, revoke: 'false' }))
    expect(world.rec.failed).toBeUndefined()
    expect(world.rec.warnings).toEqual([])
    expect(world.summaries[0]).toContain('| granted | value |')
    expect(world.summaries[0]).toContain('| scope | agent |')
    expect(world.summaries[0]).toContain(`| audience | ${API} |`)
    expectNoSecretPrinted([token])
  })

  it('asks for the scope and audience, and shows what was granted: scope from the answer, audience from the JWT', async () => {
    const token = accessToken({ aud: RESOURCE, scope: 'agent' })
    nock(API)
      .post('/api/v1/oidc/token', (body) => body.scope === 'agent' && body.audience === RESOURCE && body.agentId === AGENT_ID)
      .reply(200, exchangeOk(token, 'agent'))
    await runIssueToken(deps({ 'agent-id': AGENT_ID, scope: '  agent\n agent ', 'token-audience': RESOURCE }))
    expect(world.rec.failed).toBeUndefined()
    expect(world.rec.outputs['access-token']).toBe(token)
    expect(world.rec.masked).toContain(token)
    expect(world.rec.infos.join('\n')).toContain(`(scope agent, audience ${RESOURCE})`)
    expect(world.rec.warnings).toEqual([])
    const summary = world.summaries[0]!
    expect(summary).toContain('| scope | agent |')
    expect(summary).toContain(`| audience | ${RESOURCE} |`)
    expect(summary).toContain('| lifetime | 300 s (5 min) |')
    // The OIDC token's own audience is still in the claims table.
    expect(summary).toContain(`| OIDC token claim | value |`)
    expectNoSecretPrinted([token])
  })

  it('warns when the server granted another scope or audience than asked (a server from before these inputs)', async () => {
    const token = accessToken({ aud: API, scope: 'agent' })
    nock(API).post('/api/v1/oidc/token').reply(200, exchangeOk(token, 'agent'))
    await runIssueToken(deps({ 'agent-id': AGENT_ID, scope: 'releases:write', 'token-audience': RESOURCE, revoke: 'false' }))
    expect(world.rec.failed).toBeUndefined()
    expect(world.rec.warnings).toEqual([
      expect.stringContaining("asked for scope 'releases:write' but the token has scope 'agent'"),
      expect.stringContaining(`asked for audience '${RESOURCE}' but the token's audience is '${API}'`)
    ])
    expectNoSecretPrinted([token])
  })

  it('invalid_scope: one message with what the policy allows (the server says) and what to change', async () => {
    nock(API)
      .post('/api/v1/oidc/token', (body) => body.scope === 'releases:write')
      .reply(400, { error: 'invalid_scope', error_description: 'scope "releases:write" is not granted; allowed: agent' })
    await runIssueToken(deps({ 'agent-id': AGENT_ID, scope: 'releases:write' }))
    expect(world.rec.calls.filter(([m]) => m === 'setFailed')).toHaveLength(1)
    const message = world.rec.failed!
    expect(message).toContain('allowed: agent')
    expect(message).toContain("does not grant scope 'releases:write'")
    expect(message).toMatch(/Set the 'scope' input to scopes it allows, or leave it empty.*trust policy's "scopes"/)
    expect(world.rec.outputs).toEqual({})
    expect(world.summaries[0]).toMatch(/❌ issue-token: refused by the server \(invalid_scope\)/)
    expect(world.summaries[0]).toContain('allowed: agent')
  })

  it("invalid_target: names the allowed audience and the 'token-audience' input", async () => {
    nock(API)
      .post('/api/v1/oidc/token', (body) => body.audience === RESOURCE)
      .reply(400, { error: 'invalid_target', error_description: `audience "${RESOURCE}" is not granted; allowed: ${API}` })
    await runIssueToken(deps({ 'agent-id': AGENT_ID, 'token-audience': RESOURCE }))
    const message = world.rec.failed!
    expect(message).toContain(`allowed: ${API}`)
    expect(message).toContain(`does not allow tokens for audience '${RESOURCE}'`)
    expect(message).toMatch(/Set the 'token-audience' input to an audience it allows.*trust policy's "audiences"/)
  })

  it('agent_expired: says the agent is over its lifetime and what to do', async () => {
    nock(API).post('/api/v1/oidc/token').reply(403, { error: 'agent_expired', error_description: 'agent expired at 2030-01-01T00:00:00.000Z' })
    await runIssueToken(deps({ 'agent-id': AGENT_ID }))
    expect(world.rec.failed).toMatch(new RegExp(`Agent ${AGENT_ID} has expired.*'expires-in'.*another 'agent-name'`, 's'))
  })
})

describe('issue-token: dry-run shows what would be granted', () => {
  it('prints and summarises scope, audience and lifetime from the explain answer', async () => {
    nock(API)
      .post('/api/v1/oidc/explain', (body) => body.scope === 'agent' && body.audience === RESOURCE && body.agentId === AGENT_ID)
      .reply(200, { allowed: true, policyId: 'p-1', scope: 'agent', audience: RESOURCE, expiresIn: 300, claims: {} })
    await runIssueToken(deps({ 'agent-id': AGENT_ID, scope: 'agent', 'token-audience': RESOURCE, 'dry-run': 'true' }))
    expect(world.rec.failed).toBeUndefined()
    expect(world.rec.outputs).toEqual({ allowed: 'true' })
    expect(world.rec.infos).toContain(
      `Dry run: the exchange would be allowed by trust policy p-1, granting scope agent, audience ${RESOURCE}, lifetime 300 s (5 min). Nothing was minted.`
    )
    const summary = world.summaries[0]!
    expect(summary).toContain('| would be granted | value |')
    expect(summary).toContain('| scope | agent |')
    expect(summary).toContain(`| audience | ${RESOURCE} |`)
    expect(summary).toContain('| lifetime | 300 s (5 min) |')
  })

  it('a 400 invalid_scope from explain is a refusal: allowed false, the server text and the fix', async () => {
    nock(API).post('/api/v1/oidc/explain').reply(400, { error: 'invalid_scope', error_description: 'scope "db:admin" is not granted; allowed: agent' })
    await runIssueToken(deps({ 'agent-id': AGENT_ID, scope: 'db:admin', 'dry-run': 'true' }))
    expect(world.rec.outputs).toEqual({ allowed: 'false' })
    expect(world.rec.failed).toContain('dry run: the exchange would be refused: scope "db:admin" is not granted; allowed: agent')
    expect(world.rec.failed).toContain("Set the 'scope' input")
    expect(world.summaries[0]).toMatch(/dry run: the exchange would be refused \(invalid_scope\)/)
  })

  it('an allowed: false answer with code invalid_target gets the token-audience fix', async () => {
    nock(API)
      .post('/api/v1/oidc/explain')
      .reply(200, { allowed: false, code: 'invalid_target', reason: `audience "${RESOURCE}" is not granted; allowed: ${API}`, policyId: 'p-1' })
    await runIssueToken(deps({ 'agent-id': AGENT_ID, 'token-audience': RESOURCE, 'dry-run': 'true' }))
    expect(world.rec.outputs).toEqual({ allowed: 'false' })
    expect(world.rec.failed).toContain(`allowed: ${API}`)
    expect(world.rec.failed).toContain("'token-audience'")
  })
})

describe('federate: scope', () => {
  const workspace = (scope?: string): Record<string, unknown> => ({
    success: true,
    data: {
      token: 'fws_secret_workspace_token_1',
      url: `${API}/v1/db/acme-widgets-1a2b3c4d/main`,
      namespace: 'acme-widgets-1a2b3c4d',
      database: 'main',
      identity: 'acme/widgets',
      created: false,
      expiresAt: '2030-01-01T01:00:00.000Z',
      ...(scope ? { scope } : {})
    }
  })

  it('sends {"scope"} and shows the granted scope from the answer', async () => {
    let body: unknown
    nock(API)
      .post('/v1/identity/federate')
      .reply(function (_uri, requestBody) {
        body = requestBody
        return [200, workspace('db:read')]
      })
    await runFederate(deps({ scope: 'db:read' }))
    expect(world.rec.failed).toBeUndefined()
    expect(body).toEqual({ scope: 'db:read' })
    expect(world.summaries[0]).toContain('| granted | value |')
    expect(world.summaries[0]).toContain('| scope | db:read |')
    expect(world.rec.infos.join('\n')).toContain('token with scope db:read')
    expectNoSecretPrinted(['fws_secret_workspace_token_1'])
  })

  it('sends no body without the input, and warns when a scope was asked but not confirmed', async () => {
    let body: unknown = 'unset'
    nock(API)
      .post('/v1/identity/federate')
      .reply(function (_uri, requestBody) {
        body = requestBody
        return [200, workspace()]
      })
    await runFederate(deps({}))
    expect(body).toBe('')
    expect(world.summaries[0]).not.toContain('| granted |')
    expect(world.rec.warnings).toEqual([])

    nock(API).post('/v1/identity/federate').reply(200, workspace())
    await runFederate(deps({ scope: 'db:read' }))
    expect(world.rec.warnings).toEqual([expect.stringContaining("asked for scope 'db:read' but the server did not say which scope it granted")])
  })

  it('invalid_scope (Protocol B envelope): names what the server allows and the input', async () => {
    nock(API)
      .post('/v1/identity/federate')
      .reply(400, { success: false, error: 'unknown scope "db:admin"; allowed: "db:read", "db:write" (space-separated; default both)', code: 'invalid_scope' })
    await runFederate(deps({ scope: 'db:admin' }))
    expect(world.rec.failed).toContain('allowed: "db:read", "db:write"')
    expect(world.rec.failed).toMatch(/does not grant scope 'db:admin' for a workspace.*Set the 'scope' input to db:read, db:write or both/s)
  })
})

describe('register-agent: expires-in', () => {
  const BOOTSTRAP = accessToken({ aud: API, scope: 'agents:write' })

  it('sends expiresAt = now + the duration, the same on a retry, and shows the stored expiry', async () => {
    const expected = new Date(world.clock.now() + 7 * 86_400_000).toISOString()
    const bodies: unknown[] = []
    nock(API)
      .post('/api/v1/oidc/token', (body) => !('scope' in body) && !('audience' in body))
      .reply(200, exchangeOk(BOOTSTRAP, 'agents:write'))
      .post('/api/v1/agents')
      .reply(function (_uri, body) {
        bodies.push(body)
        return [503, { error: 'temporarily_unavailable' }, { 'retry-after': '1' }]
      })
      .post('/api/v1/agents')
      .reply(function (_uri, body) {
        bodies.push(body)
        return [201, { agentId: AGENT_ID, name: 'bot@acme.example', created: true, expiresAt: expected }]
      })
      .post('/api/v1/oauth/revoke')
      .reply(200, {})
    await runRegisterAgent(deps({ 'agent-name': 'bot@acme.example', 'expires-in': '7d', 'max-attempts': '3' }))
    expect(world.rec.failed).toBeUndefined()
    expect(bodies).toEqual([
      { name: 'bot@acme.example', expiresAt: expected },
      { name: 'bot@acme.example', expiresAt: expected }
    ])
    expect(world.summaries[0]).toContain(`| agent expires-at | ${expected} |`)
    expect(world.rec.warnings).toEqual([])
    expectNoSecretPrinted([BOOTSTRAP])
  })

  it('sends no expiresAt without the input', async () => {
    nock(API)
      .post('/api/v1/oidc/token')
      .reply(200, exchangeOk(BOOTSTRAP, 'agents:write'))
      .post('/api/v1/agents', (body) => !('expiresAt' in body))
      .reply(201, { agentId: AGENT_ID, name: 'bot@acme.example', created: true })
      .post('/api/v1/oauth/revoke')
      .reply(200, {})
    await runRegisterAgent(deps({ 'agent-name': 'bot@acme.example' }))
    expect(world.rec.failed).toBeUndefined()
    expect(world.rec.warnings).toEqual([])
  })

  it('warns when the server does not confirm the expiry (it would keep the agent forever)', async () => {
    nock(API)
      .post('/api/v1/oidc/token')
      .reply(200, exchangeOk(BOOTSTRAP, 'agents:write'))
      .post('/api/v1/agents')
      .reply(201, { agentId: AGENT_ID, name: 'bot@acme.example', created: true })
      .post('/api/v1/oauth/revoke')
      .reply(200, {})
    await runRegisterAgent(deps({ 'agent-name': 'bot@acme.example', 'expires-in': '30m' }))
    expect(world.rec.warnings).toEqual([expect.stringContaining('the server did not confirm an expiry')])
  })

  it('fails a malformed expires-in before any request, showing the accepted forms', async () => {
    const minted = world.issuer.issuedByRunner.length
    await runRegisterAgent(deps({ 'agent-name': 'bot@acme.example', 'expires-in': '1 week' }))
    expect(world.rec.failed).toContain("Input 'expires-in' must be a duration")
    expect(world.rec.failed).toContain('90s, 30m, 1h, 7d')
    // Not even the OIDC token was asked for.
    expect(world.issuer.issuedByRunner).toHaveLength(minted)
  })
})
