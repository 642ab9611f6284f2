/**
 * The README's least-privilege example through the bundles and the reference server: a
 * policy for one repository, branch, environment, scope and audience with 5-minute tokens;
 * issue-token asks for exactly that (the token verifies offline for that audience), asking
 * for more fails with the server's list of what is allowed; register-agent's expires-in
 * reaches the agent; federate's scope db:read gives a token that can only read.
 */
import { describe, expect, it } from '@jest/globals'
import { createRemoteJWKSet, jwtVerify } from 'jose'
import { call } from '../../shared/testing/api-call'
import type { TrustPolicyRequest } from '../../shared/testing/admin-api'
import { expectSucceeded, failureMessage, newIdentity, summaryText, useE2eWorld } from './world'

const RESOURCE = 'https://releases.acme.example'

/** A policy with the grant fields (scopes, audiences, maxTtl) the admin API takes. */
type GrantPolicy = TrustPolicyRequest & { scopes?: string[]; audiences?: string[]; maxTtl?: number }

describe('e2e: least privilege (scope, token-audience, expires-in)', () => {
  const world = useE2eWorld()

  it('issues a 5-minute token for one scope and one audience, and refuses more with what the policy allows', async () => {
    const identity = newIdentity({ environment: 'production' })
    const where = { repository: identity.repository, branch: 'main', environment: 'production' }
    await world.admin.createTrustPolicy({ ...where, maxTtl: 300 } as GrantPolicy)
    const job = await world.job(identity)

    const register = await job.run({
      uses: './register-agent',
      id: 'register',
      with: { 'api-url': world.apiUrl, 'agent-name': 'release-bot@acme.example', 'expires-in': '90d' }
    })
    expectSucceeded(register)
    const agentId = register.outputs['agent-id'] ?? ''
    expect(summaryText(register)).toMatch(/agent expires-at \| \d{4}-/)

    await world.admin.createTrustPolicy({ ...where, agentId, scopes: ['releases:write'], audiences: [RESOURCE], maxTtl: 300 } as GrantPolicy)
    const inputs = { 'api-url': world.apiUrl, 'agent-id': agentId, scope: 'releases:write', 'token-audience': RESOURCE }

    const dry = await job.run({ uses: './issue-token', id: 'dry', with: { ...inputs, 'dry-run': 'true' } })
    expectSucceeded(dry)
    expect(dry.outputs.allowed).toBe('true')
    expect(summaryText(dry)).toContain('would be granted')

    const issue = await job.run({ uses: './issue-token', id: 'token', with: inputs })
    expectSucceeded(issue)
    const token = issue.outputs['access-token'] ?? ''
    const summary = summaryText(issue)
    expect(summary).toContain('| scope | releases:write |')
    expect(summary).toContain(`| audience | ${RESOURCE} |`)
    expect(summary).toContain('| lifetime | 300 s (5 min) |')
    const jwks = createRemoteJWKSet(new URL('/.well-known/jwks.json', world.apiUrl))
    const { payload } = await jwtVerify(token, jwks, { issuer: world.apiUrl, audience: RESOURCE })
    expect(payload).toMatchObject({ sub: agentId, scope: 'releases:write' })
    expect(payload.exp! - payload.iat!).toBeLessThanOrEqual(300)

    const tooMuch = await job.run({ uses: './issue-token', id: 'more', with: { ...inputs, scope: 'releases:write releases:admin' } })
    const scopeMessage = failureMessage(tooMuch)
    expect(scopeMessage).toContain('invalid_scope')
    expect(scopeMessage).toContain('"releases:write"')
    expect(scopeMessage).toContain("Set the 'scope' input")

    // A failed step skips the rest of its job, as on GitHub: another job of the same repository.
    const next = await world.job(identity)
    const elsewhere = await next.run({ uses: './issue-token', id: 'elsewhere', with: { ...inputs, 'token-audience': 'https://other.acme.example' } })
    const audienceMessage = failureMessage(elsewhere)
    expect(audienceMessage).toContain('invalid_target')
    expect(audienceMessage).toContain(RESOURCE)
    expect(audienceMessage).toContain("Set the 'token-audience' input")
  })

  it('federate with scope db:read: the summary shows it and the token can only read', async () => {
    const job = await world.job(newIdentity())
    const run = await job.run({ uses: './federate', id: 'db', with: { 'api-url': world.apiUrl, scope: 'db:read' } })
    expectSucceeded(run)
    expect(summaryText(run)).toContain('| scope | db:read |')
    const url = run.outputs.url ?? ''
    const token = run.outputs.token ?? ''
    expect((await call(url, 'POST', '/query', { token, body: { sql: 'SELECT 1 AS one' } })).status).toBe(200)
    expect((await call(url, 'POST', '/query', { token, body: { sql: 'CREATE TABLE t (id int)' } })).status).toBe(403)

    const unknown = await job.run({ uses: './federate', id: 'bad', with: { 'api-url': world.apiUrl, scope: 'db:admin' } })
    expect(failureMessage(unknown)).toMatch(/invalid_scope[\s\S]*Set the 'scope' input to db:read, db:write or both/)
  })
})
