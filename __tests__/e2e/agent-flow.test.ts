/**
 * The agent identity flow as a workflow runs it: trust policy -> register-agent ->
 * issue-token -> the token used against the server -> revoked by the post step at job end.
 * Bundles from dist/ under Node 24, the reference server as a process, the local issuer.
 */
import { describe, expect, it } from '@jest/globals'
import { createRemoteJWKSet, jwtVerify } from 'jose'
import { call } from '../../shared/testing/api-call'
import { expectSucceeded, failureMessage, newIdentity, summaryText, useE2eWorld } from './world'

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i

describe('e2e: register-agent and issue-token through the bundles', () => {
  const world = useE2eWorld()

  it('registers an agent, issues a token the server accepts, and revokes it when the job ends', async () => {
    const identity = newIdentity()
    await world.admin.createTrustPolicy({ repository: identity.repository })
    const job = await world.job(identity)

    const register = await job.run({
      uses: './register-agent',
      id: 'register',
      with: { 'api-url': world.apiUrl, 'agent-name': 'builder@acme.example', 'agent-description': 'builds things' }
    })
    expectSucceeded(register)
    const agentId = register.outputs['agent-id'] ?? ''
    expect(agentId).toMatch(UUID)
    expect(register.outputs.created).toBe('true')
    expect(summaryText(register)).toContain(identity.repository)

    await world.admin.createTrustPolicy({ repository: identity.repository, agentId })
    const issue = await job.run({ uses: './issue-token', id: 'token', with: { 'api-url': world.apiUrl, 'agent-id': agentId } })
    expectSucceeded(issue)
    const accessToken = issue.outputs['access-token'] ?? ''
    expect(job.job.masker.has(accessToken)).toBe(true)
    expect(Date.parse(issue.outputs['expires-at'] ?? '')).toBeGreaterThan(Date.now())
    const summary = summaryText(issue)
    for (const claim of [identity.repository, 'refs/heads/main', 'push']) expect(summary).toContain(claim)

    // The server knows the token: introspection, offline verification, and a protected call
    // that recognises the caller (403 for the scope, not 401).
    const active = await world.admin.introspect(accessToken)
    expect(active).toMatchObject({ active: true, sub: agentId, scope: 'agent' })
    const jwks = createRemoteJWKSet(new URL('/.well-known/jwks.json', world.apiUrl))
    const { payload } = await jwtVerify(accessToken, jwks, { issuer: world.apiUrl })
    expect(payload).toMatchObject({ sub: agentId, scope: 'agent' })
    const asAgent = await call(new URL(world.apiUrl).origin, 'POST', '/api/v1/agents', { token: accessToken, body: { name: 'another@acme.example' } })
    expect(asAgent).toMatchObject({ status: 403, body: { error: 'insufficient_scope' } })
    const credentials = await world.admin.credentials(agentId)
    expect(credentials).toHaveLength(1)
    expect(credentials[0]?.revokedAt ?? null).toBeNull()

    const posts = await job.end()
    expect(posts).toHaveLength(1)
    expectSucceeded(posts[0])

    expect(await world.admin.introspect(accessToken)).toMatchObject({ active: false })
    const afterRevoke = await call(new URL(world.apiUrl).origin, 'POST', '/api/v1/agents', { token: accessToken, body: { name: 'another@acme.example' } })
    expect(afterRevoke.status).toBe(401)
    const [credential] = await world.admin.credentials(agentId)
    expect(credential?.revokedAt).toEqual(expect.any(String))
    const actions = (await world.admin.audit(agentId)).map((event) => event.action)
    expect(actions.length).toBeGreaterThanOrEqual(3)
  })

  it('with step debug on, the log shows the token claims a trust policy needs, and still no secret', async () => {
    const identity = newIdentity({ ref: 'refs/heads/release' })
    const job = await world.job(identity, { debug: true })
    const run = await job.run({ uses: './register-agent', with: { 'api-url': world.apiUrl, 'agent-name': 'debug@acme.example' } })
    failureMessage(run)
    const debugLog = run.log
      .split('\n')
      .filter((line) => line.startsWith('##[debug]'))
      .join('\n')
    for (const claim of [`repo:${identity.repository}:ref:refs/heads/release`, identity.repository, 'refs/heads/release', '.github/workflows/ci.yml'])
      expect(debugLog).toContain(claim)
    // The afterEach leak check covers the debug lines too.
  })

  it('keeps the token when revoke is false', async () => {
    const identity = newIdentity()
    await world.admin.createTrustPolicy({ repository: identity.repository })
    const job = await world.job(identity)
    const register = await job.run({ uses: './register-agent', with: { 'api-url': world.apiUrl, 'agent-name': 'keeper@acme.example' } })
    const agentId = register.outputs['agent-id'] ?? ''
    await world.admin.createTrustPolicy({ repository: identity.repository, agentId })
    const issue = await job.run({
      uses: './issue-token',
      with: { 'api-url': world.apiUrl, 'agent-id': agentId, revoke: 'false', ttl: '120' }
    })
    expectSucceeded(issue)
    await job.end()
    const introspection = await world.admin.introspect(issue.outputs['access-token'] ?? '')
    expect(introspection.active).toBe(true)
    // ttl asks for a shorter lifetime.
    expect(Date.parse(issue.outputs['expires-at'] ?? '') - Date.now()).toBeLessThanOrEqual(125_000)
  })

  it('the composite agent action tells the user which policy is missing, then works once it exists (no revocation: no post step)', async () => {
    const identity = newIdentity()
    await world.admin.createTrustPolicy({ repository: identity.repository })
    const inputs = { 'api-url': world.apiUrl, 'agent-name': 'composite@acme.example' }

    const first = await world.job(identity)
    const refused = await first.run({ uses: './agent', id: 'agent', with: inputs })
    const message = failureMessage(refused)
    const agentId = refused.outputs['agent-id'] ?? ''
    expect(agentId).toMatch(UUID)
    expect(refused.outputs.created).toBe('true')
    expect(refused.outputs['access-token'] ?? '').toBe('')
    expect(message).toMatch(/trust polic/i)
    expect(message).toContain(identity.repository)
    expect(message).toContain(agentId)
    await first.end()

    await world.admin.createTrustPolicy({ repository: identity.repository, agentId })
    const second = await world.job(identity)
    const agent = await second.run({ uses: './agent', id: 'agent', with: inputs })
    expectSucceeded(agent)
    expect(agent.outputs['agent-id']).toBe(agentId)
    expect(agent.outputs.created).toBe('false')
    const accessToken = agent.outputs['access-token'] ?? ''
    expect(second.job.masker.has(accessToken)).toBe(true)
    expect(await world.admin.introspect(accessToken)).toMatchObject({ active: true, sub: agentId })
    // A composite action has no post step: the token stays valid until it expires (agent/action.yml).
    expect(await second.end()).toEqual([])
    expect(await world.admin.introspect(accessToken)).toMatchObject({ active: true })
  })

  it('dry-run explains the decision and mints nothing', async () => {
    const identity = newIdentity()
    await world.admin.createTrustPolicy({ repository: identity.repository })
    const job = await world.job(identity)
    const register = await job.run({ uses: './register-agent', with: { 'api-url': world.apiUrl, 'agent-name': 'dry@acme.example' } })
    const agentId = register.outputs['agent-id'] ?? ''

    const wouldRegister = await job.run({
      uses: './register-agent',
      with: { 'api-url': world.apiUrl, 'agent-name': 'dry-new@acme.example', 'dry-run': 'true' }
    })
    expectSucceeded(wouldRegister)
    expect(wouldRegister.outputs.allowed).toBe('true')
    expect(wouldRegister.outputs['agent-id'] ?? '').toBe('')

    const wouldIssue = await job.run({ uses: './issue-token', with: { 'api-url': world.apiUrl, 'agent-id': agentId, 'dry-run': 'true' } })
    expect(wouldIssue.outputs.allowed).toBe('false')
    expect(wouldIssue.outputs['access-token'] ?? '').toBe('')
    const message = failureMessage(wouldIssue)
    expect(message).toMatch(/trust polic/i)
    expect(message).toContain(agentId)
    expect(await world.admin.credentials(agentId)).toEqual([])
    for (const post of await job.end()) expectSucceeded(post)
  })
})
