import { createHash } from 'node:crypto'
import { beforeAll, describe, expect, it } from '@jest/globals'
import { githubClaims } from '../../shared/testing/oidc-issuer'
import { ACME, ADMIN_TOKEN, givenBootstrapPolicy, useTestServer } from './helpers'

const { server, client: c } = useTestServer()

async function explain(claims: Record<string, unknown>, agentId?: string, token?: string) {
  token ??= await server.issuer.mint({ audience: server.url, claims })
  return c.api('POST', '/api/v1/oidc/explain', { body: { provider: 'github', token, ...(agentId ? { agentId } : {}) } })
}

describe('POST /api/v1/oidc/explain names the closest policy and the claim that differs', () => {
  let policyId: string

  beforeAll(async () => {
    policyId = await givenBootstrapPolicy(server, ACME, {
      branch: 'main',
      environment: 'prod',
      workflowRef: `${ACME.repository}/.github/workflows/deploy.yml@refs/heads/main`
    })
  })

  const prodDeploy = (overrides: Partial<Parameters<typeof githubClaims>[0]> = {}) =>
    githubClaims({ ...ACME, environment: 'prod', workflowFile: '.github/workflows/deploy.yml', ...overrides })

  it('allowed: the matching policy, with the non-secret claims; audited', async () => {
    const token = await server.issuer.mint({ audience: server.url, claims: prodDeploy() })
    const res = await explain({}, undefined, token)
    expect(res.status).toBe(200)
    expect(res.body).toMatchObject({ allowed: true, policyId })
    expect(res.body.claims).toMatchObject({ repository: ACME.repository, environment: 'prod', ref: 'refs/heads/main' })
    expect(res.body.claims.sha).toBeUndefined()
    const audit = await c.api('GET', '/api/v1/audit', { token: ADMIN_TOKEN })
    const sha = createHash('sha256').update(token).digest('hex')
    const ofToken = audit.body.items.filter((e: { detail: { tokenSha256?: string } }) => e.detail.tokenSha256 === sha)
    expect(ofToken).toEqual([expect.objectContaining({ action: 'policy.explain', detail: expect.objectContaining({ outcome: 'allowed', policyId }) })])
  })

  it.each([
    ['the branch', { ref: 'refs/heads/dev' }, 'ref'],
    ['the environment', { environment: 'staging' }, 'environment'],
    ['the workflow', { workflowFile: '.github/workflows/ci.yml' }, 'job_workflow_ref'],
    ['the event', { eventName: 'pull_request_target' }, 'event_name']
  ])('denied by %s: closest policy and the claim, same reason as the real exchange', async (_what, overrides, claim) => {
    const claims = prodDeploy(overrides)
    const res = await explain(claims)
    expect(res.status).toBe(200)
    expect(res.body).toMatchObject({ allowed: false, policyId, closestPolicyId: policyId, claim })
    expect(typeof res.body.reason).toBe('string')
    const token = await server.issuer.mint({ audience: server.url, claims })
    const real = await c.api('POST', '/api/v1/oidc/token', { body: { provider: 'github', token } })
    expect(real.status).toBe(403)
    expect(real.body.error).toBe(res.body.code)
    expect(real.body.error_description).toBe(res.body.reason)
  })

  it('denied for an unknown agent, and audited without issuing anything', async () => {
    const token = await server.issuer.mint({ audience: server.url, claims: prodDeploy() })
    const res = await explain({}, '00000000-0000-4000-8000-000000000000', token)
    expect(res.body).toMatchObject({ allowed: false, code: 'agent_not_found' })
    const audit = await c.api('GET', '/api/v1/audit', { token: ADMIN_TOKEN })
    const sha = createHash('sha256').update(token).digest('hex')
    const ofToken = audit.body.items.filter((e: { detail: { tokenSha256?: string } }) => e.detail.tokenSha256 === sha)
    expect(ofToken).toEqual([expect.objectContaining({ action: 'policy.explain', detail: expect.objectContaining({ outcome: 'denied', code: 'agent_not_found' }) })])
    // No test of this file gets a token: an explain that issued one would show here.
    expect(audit.body.items.some((e: { action: string; detail: { outcome?: string } }) => e.action === 'token.exchange' && e.detail.outcome === 'issued')).toBe(false)
  })
})
