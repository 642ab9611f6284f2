/**
 * register-agent, issue-token (and its post step) run in process: a recording core, the
 * local issuer as the runner's token endpoint, the real HTTP transport, nock as
 * the identity provider, a clock that never waits.
 */
import { afterEach, describe, expect, it } from '@jest/globals'
import nock from 'nock'
import { run as runIssueToken } from '../../shared/client/actions/issue-token'
import { run as runPost } from '../../shared/client/actions/issue-token-post'
import { run as runRegisterAgent } from '../../shared/client/actions/register-agent'
import type { RunDeps } from '../../shared/client/session'
import { freePort } from '../../shared/testing/ports'
import { recordingCore, stepEnv, useClientWorld } from './helpers'

const API = 'https://idp.example.test'
const AGENT_ID = '0b6f3c9e-2d7a-4c1e-9f5b-8a2e4d6c1f30'
const BOOTSTRAP = 'bootstrap-secret-4f1c2a'
const ACCESS = 'access-secret-9d8e7f'

const world = useClientWorld({ runnerIdentity: { repository: 'acme/widgets', repositoryId: '123456789', ownerId: '4242', ref: 'refs/heads/dev' } })
afterEach(() => {
  expect(nock.pendingMocks()).toEqual([])
  nock.cleanAll()
})

function deps(inputs: Record<string, string>, env: Record<string, string> = {}): Partial<RunDeps> {
  return {
    core: world.rec.core,
    env: { ...stepEnv({ 'api-url': API, ...inputs }, world.issuer), ...env },
    writeSummary: async (markdown) => void world.summaries.push(markdown),
    now: world.clock.now,
    sleep: world.clock.sleep,
    random: world.clock.random
  }
}

/** Nothing secret in any log line, message, output other than the secret ones, or summary. */
function expectNoSecretPrinted(extra: string[] = []): void {
  const secrets = [...world.issuer.issuedByRunner, BOOTSTRAP, ACCESS, ...extra]
  const printed = world.rec.calls
    .filter(([method, name]) => method !== 'setSecret' && !(method === 'setOutput' && name === 'access-token') && !(method === 'saveState' && name === 'access-token'))
    .map((call) => call.join(' '))
    .join('\n')
  for (const secret of secrets) {
    expect(printed).not.toContain(secret)
    expect(world.summaries.join('\n')).not.toContain(secret)
  }
}

const exchangeOk = (token: string, scope: string) => ({
  access_token: token,
  token_type: 'Bearer',
  expires_in: 900,
  expires_at: new Date(world.clock.now() + 900_000).toISOString(),
  scope
})

describe('register-agent', () => {
  it('exchanges, registers with an Idempotency-Key, revokes the bootstrap token and sets the outputs', async () => {
    const api = nock(API)
      .post('/api/v1/oidc/token', (body) => body.provider === 'github' && /^eyJ/.test(body.token) && !('agentId' in body))
      .reply(200, exchangeOk(BOOTSTRAP, 'agents:write'))
      .post('/api/v1/agents', { name: 'release-bot@acme.io', description: 'ships releases' })
      .matchHeader('authorization', `Bearer ${BOOTSTRAP}`)
      .matchHeader('idempotency-key', /^register-agent-[0-9a-f]{40}$/)
      .reply(201, { agentId: AGENT_ID, name: 'release-bot@acme.io', created: true })
      .post('/api/v1/oauth/revoke', { token: BOOTSTRAP })
      .reply(200, {})
    await runRegisterAgent(deps({ 'agent-name': 'release-bot@acme.io', 'agent-description': 'ships releases' }))
    expect(world.rec.failed).toBeUndefined()
    expect(world.rec.outputs).toEqual({ 'agent-id': AGENT_ID, created: 'true' })
    expect(world.rec.masked).toEqual(expect.arrayContaining([world.issuer.issuedByRunner[0], BOOTSTRAP]))
    expect(world.rec.infos).toContain('Revoked the bootstrap token.')
    expect(world.summaries[0]).toMatch(/### ✅ register-agent: registered agent release-bot@acme.io/)
    expect(world.summaries[0]).toContain(`| agent-id | ${AGENT_ID} |`)
    expect(world.summaries[0]).toContain('| repository | acme/widgets |')
    expect(world.summaries[0]).toContain('| ref | refs/heads/dev |')
    expect(world.summaries[0]).toContain(`| audience | ${API} |`)
    expectNoSecretPrinted()
    api.done()
  })

  it('sends the same Idempotency-Key when it retries a registration after a 503', async () => {
    const keys: string[] = []
    nock(API)
      .post('/api/v1/oidc/token')
      .reply(200, exchangeOk(BOOTSTRAP, 'agents:write'))
      .post('/api/v1/agents')
      .reply(function () {
        keys.push(String(this.req.headers['idempotency-key']))
        return [503, { error: 'unavailable', error_description: 'database restarting' }]
      })
      .post('/api/v1/agents')
      .reply(function () {
        keys.push(String(this.req.headers['idempotency-key']))
        return [200, { agentId: AGENT_ID, created: false }]
      })
      .post('/api/v1/oauth/revoke')
      .reply(200, {})
    await runRegisterAgent(deps({ 'agent-name': 'release-bot@acme.io' }, { GITHUB_RUN_ID: '77', GITHUB_RUN_ATTEMPT: '1', GITHUB_REPOSITORY: 'acme/widgets' }))
    expect(world.rec.failed).toBeUndefined()
    expect(keys).toHaveLength(2)
    expect(keys[0]).toBe(keys[1])
    expect(world.rec.outputs.created).toBe('false')
    expect(
      world.rec.infos.some((line) =>
        /registering agent release-bot@acme.io .*: attempt 1 of 5 failed \(the server failed with 503 \(unavailable: database restarting\)\)/.test(line)
      )
    ).toBe(true)
  })

  it('only warns when the bootstrap token cannot be revoked', async () => {
    nock(API)
      .post('/api/v1/oidc/token')
      .reply(200, exchangeOk(BOOTSTRAP, 'agents:write'))
      .post('/api/v1/agents')
      .reply(201, { agentId: AGENT_ID, created: true })
      .post('/api/v1/oauth/revoke')
      .reply(400, { error: 'invalid_request', error_description: `cannot revoke ${BOOTSTRAP}` })
    await runRegisterAgent(deps({ 'agent-name': 'release-bot@acme.io' }))
    expect(world.rec.failed).toBeUndefined()
    expect(world.rec.outputs['agent-id']).toBe(AGENT_ID)
    expect(world.rec.warnings).toEqual([expect.stringMatching(/^could not revoke the bootstrap token \(it expires on its own\): .*cannot revoke \*\*\*/)])
    expectNoSecretPrinted()
  })

  it('fails with the agent_exists fix when another repository owns the name', async () => {
    nock(API)
      .post('/api/v1/oidc/token')
      .reply(200, exchangeOk(BOOTSTRAP, 'agents:write'))
      .post('/api/v1/agents')
      .reply(409, { error: 'agent_exists', error_description: 'name taken' })
      .post('/api/v1/oauth/revoke')
      .reply(200, {})
    await runRegisterAgent(deps({ 'agent-name': 'release-bot@acme.io' }))
    expect(world.rec.failed).toMatch(
      /^register-agent: registering agent release-bot@acme.io at https:\/\/idp.example.test\/api\/v1\/agents: the server refused it with 409 \(agent_exists: name taken\)/
    )
    expect(world.rec.failed).toMatch(/The name 'release-bot@acme.io' is already registered by another repository. Choose another 'agent-name'./)
    // The bootstrap token is revoked even when registration fails.
    expect(world.rec.infos).toContain('Revoked the bootstrap token.')
  })

  it('fails at once with the agent_limit_reached fix when the repository owns too many agents', async () => {
    nock(API)
      .post('/api/v1/oidc/token')
      .reply(200, exchangeOk(BOOTSTRAP, 'agents:write'))
      .post('/api/v1/agents')
      .reply(403, { error: 'agent_limit_reached', error_description: 'this repository already owns 100 agents' })
      .post('/api/v1/oauth/revoke')
      .reply(200, {})
    await runRegisterAgent(deps({ 'agent-name': 'one-too-many@acme.io' }))
    expect(world.rec.failed).toMatch(/the server refused it with 403 \(agent_limit_reached: this repository already owns 100 agents\)/)
    expect(world.rec.failed).toMatch(/Reuse an existing 'agent-name', or ask the operator to disable agents you no longer use or to raise the limit./)
    expect(nock.isDone()).toBe(true) // one registration attempt: a 403 is not retried
  })
})

describe('issue-token', () => {
  it('exchanges for the agent with ttl (a JSON body with its length), sets masked outputs and saves what the post step needs', async () => {
    nock(API)
      .post('/api/v1/oidc/token', (body) => body.agentId === AGENT_ID && body.ttl === 300 && body.provider === 'github')
      .matchHeader('content-type', 'application/json')
      .matchHeader('content-length', (value) => Number(value) > 100)
      .matchHeader('transfer-encoding', (value) => value === undefined)
      .reply(200, { ...exchangeOk(ACCESS, 'agent'), agent_id: AGENT_ID })
    await runIssueToken(deps({ 'agent-id': AGENT_ID, ttl: '300' }))
    expect(world.rec.failed).toBeUndefined()
    expect(world.rec.outputs['access-token']).toBe(ACCESS)
    expect(world.rec.outputs['expires-at']).toBe(new Date(world.clock.now() + 900_000).toISOString())
    // Masked before it was set as an output.
    const maskedAt = world.rec.calls.findIndex(([m, v]) => m === 'setSecret' && v === ACCESS)
    const outputAt = world.rec.calls.findIndex(([m, n]) => m === 'setOutput' && n === 'access-token')
    expect(maskedAt).toBeGreaterThanOrEqual(0)
    expect(maskedAt).toBeLessThan(outputAt)
    expect(world.rec.state).toEqual({ 'access-token': ACCESS, 'expires-at': world.rec.outputs['expires-at'], 'api-url': `${API}/` })
    expect(world.summaries[0]).toContain(`| expires-at | ${world.rec.outputs['expires-at']} |`)
    expectNoSecretPrinted()
  })

  it('computes expires-at from expires_in when the server gives no expires_at', async () => {
    nock(API).post('/api/v1/oidc/token').reply(200, { access_token: ACCESS, token_type: 'Bearer', expires_in: 120, scope: 'agent' })
    await runIssueToken(deps({ 'agent-id': AGENT_ID }))
    expect(world.rec.outputs['expires-at']).toBe(new Date(world.clock.now() + 120_000).toISOString())
  })

  it('saves nothing for the post step with revoke: false', async () => {
    nock(API).post('/api/v1/oidc/token').reply(200, exchangeOk(ACCESS, 'agent'))
    await runIssueToken(deps({ 'agent-id': AGENT_ID, revoke: 'false' }))
    expect(world.rec.state).toEqual({})
    expect(world.rec.infos.at(-1)).toMatch(/revoke: false, so it stays valid until then/)
  })

  it('mints a fresh OIDC token when a retry comes after a long wait', async () => {
    const tokens: string[] = []
    nock(API)
      .post('/api/v1/oidc/token', (body) => Boolean(tokens.push(body.token)))
      .reply(429, { error: 'rate_limited', error_description: 'slow down' }, { 'Retry-After': '150' })
      .post('/api/v1/oidc/token', (body) => Boolean(tokens.push(body.token)))
      .reply(200, exchangeOk(ACCESS, 'agent'))
    await runIssueToken(deps({ 'agent-id': AGENT_ID, 'timeout-seconds': '300' }))
    expect(world.rec.failed).toBeUndefined()
    expect(world.clock.sleeps).toEqual([150_000])
    expect(tokens).toHaveLength(2)
    expect(tokens[0]).not.toBe(tokens[1])
    expect(world.issuer.issuedByRunner.slice(-2)).toEqual(tokens)
  })

  it('reuses the OIDC token for a quick retry', async () => {
    const tokens: string[] = []
    nock(API)
      .post('/api/v1/oidc/token', (body) => Boolean(tokens.push(body.token)))
      .reply(502, '<html><title>502 Bad Gateway</title></html>', { 'content-type': 'text/html' })
      .post('/api/v1/oidc/token', (body) => Boolean(tokens.push(body.token)))
      .reply(200, exchangeOk(ACCESS, 'agent'))
    await runIssueToken(deps({ 'agent-id': AGENT_ID }))
    expect(world.rec.failed).toBeUndefined()
    expect(tokens[0]).toBe(tokens[1])
    expect(world.clock.sleeps).toHaveLength(1)
  })
})

describe('issue-token post step', () => {
  const future = () => new Date(world.clock.now() + 600_000).toISOString()

  it('revokes the saved token', async () => {
    world.rec = recordingCore({ 'access-token': ACCESS, 'expires-at': future(), 'api-url': `${API}/` })
    const api = nock(API).post('/api/v1/oauth/revoke', { token: ACCESS }).reply(200, {})
    await runPost(deps({}))
    api.done()
    expect(world.rec.masked).toContain(ACCESS)
    expect(world.rec.infos).toContain('Revoked the access token.')
    expect(world.rec.failed).toBeUndefined()
  })

  it('skips when nothing was saved (revoke: false or a failed main step)', async () => {
    await runPost(deps({}))
    expect(world.rec.infos).toEqual(['No access token to revoke.'])
  })

  it('skips a token that has already expired', async () => {
    const past = new Date(world.clock.now() - 1000).toISOString()
    world.rec = recordingCore({ 'access-token': ACCESS, 'expires-at': past, 'api-url': `${API}/` })
    await runPost(deps({}))
    expect(world.rec.infos).toEqual([`The access token expired at ${past}; nothing to revoke.`])
  })

  it('never fails the job: an unreachable server is a warning, tried for at most 10 s', async () => {
    const closed = await freePort() // nothing listens there: connection refused
    world.rec = recordingCore({ 'access-token': ACCESS, 'expires-at': future(), 'api-url': `http://127.0.0.1:${closed}/` })
    await runPost(deps({}))
    expect(world.rec.failed).toBeUndefined()
    expect(world.rec.warnings).toEqual([expect.stringMatching(/^could not revoke the access token; it stays valid until .*gave up after 3 attempts.*ECONNREFUSED/)])
    expect(world.clock.sleeps.reduce((a, b) => a + b, 0)).toBeLessThanOrEqual(10_000)
    expectNoSecretPrinted()
  })
})

describe('dry-run', () => {
  it('asks the explain endpoint, sets allowed=true and mints nothing', async () => {
    nock(API)
      .post('/api/v1/oidc/explain', (body) => body.agentId === AGENT_ID && /^eyJ/.test(body.token))
      .reply(200, { allowed: true, policyId: 'pol-1', claims: {} })
    await runIssueToken(deps({ 'agent-id': AGENT_ID, 'dry-run': 'true' }))
    expect(world.rec.failed).toBeUndefined()
    expect(world.rec.outputs).toEqual({ allowed: 'true' })
    expect(world.rec.infos).toContain('Dry run: the exchange would be allowed by trust policy pol-1. Nothing was minted.')
    expect(world.summaries[0]).toContain('| policy | pol-1 |')
  })

  it("sets allowed=false and fails with the real run's message when the exchange would be refused", async () => {
    nock(API)
      .post('/api/v1/oidc/explain', (body) => !('agentId' in body))
      .reply(200, {
        allowed: false,
        code: 'branch_not_permitted',
        reason: 'policy allows branch main, token ref is refs/heads/dev',
        policyId: 'pol-1',
        claim: 'ref',
        claims: {}
      })
    await runRegisterAgent(deps({ 'agent-name': 'bot@acme.io', 'dry-run': 'true' }))
    expect(world.rec.outputs).toEqual({ allowed: 'false' })
    expect(world.rec.failed).toMatch(
      /dry run: the exchange would be refused: policy allows branch main, token ref is refs\/heads\/dev \(closest policy pol-1, differs in claim ref\)/
    )
    expect(world.rec.failed).toMatch(/A trust policy matches acme\/widgets but not ref refs\/heads\/dev/)
    expect(world.summaries[0]).toMatch(/❌ register-agent: dry run: the exchange would be refused \(branch_not_permitted\)/)
  })

  it('infers the code from the reason when the server gives none', async () => {
    nock(API).post('/api/v1/oidc/explain').reply(200, { allowed: false, reason: 'no trust policy for acme/widgets', claims: {} })
    await runIssueToken(deps({ 'agent-id': AGENT_ID, 'dry-run': 'true' }))
    expect(world.rec.outputs).toEqual({ allowed: 'false' })
    expect(world.rec.failed).toMatch(/No trust policy on https:\/\/idp.example.test matches acme\/widgets and agent/)
  })
})
