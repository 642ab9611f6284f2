/**
 * Finding 2 (medium): an agent belongs to the repository id that registered it. A repository
 * deleted and re-created by someone else under the same name (new repository_id) does not
 * get the agent's tokens from a policy that names the repository only.
 */
import { describe, expect, it } from '@jest/globals'
import type { RepoIdentity } from '../../shared/testing/oidc-issuer'
import { ACME, givenAgent, oidcToken, useTestServer } from '../server/helpers'

/** Same name as ACME, another repository (deleted and re-created by someone else). */
const RECREATED: RepoIdentity = { ...ACME, repositoryId: '555000555' }

describe("finding 2: an agent-scoped exchange checks the agent's owner", () => {
  const { server, client: c } = useTestServer()
  // Each test registers its own agent of ACME, whose policy names the repository only.
  const ownedAgent = async (): Promise<string> => (await givenAgent(server, ACME)).agentId

  it('issues to the repository that registered the agent', async () => {
    const agentId = await ownedAgent()
    expect((await c.exchange(ACME, { agentId })).status).toBe(200)
  })

  it('refuses a re-created repository of the same name under a name-only policy', async () => {
    const agentId = await ownedAgent()
    const res = await c.exchange(RECREATED, { agentId })
    expect(res.status).toBe(403)
    expect(res.body.error).toBe('trust_policy_violation')
    expect(res.body.error_description).toContain('belongs to repository_id "123456789"')
  })

  it('explain says why', async () => {
    const agentId = await ownedAgent()
    const token = await oidcToken(server, server.url, RECREATED)
    const res = await c.api('POST', '/api/v1/oidc/explain', { body: { provider: 'github', token, agentId } })
    expect(res.status).toBe(200)
    expect(res.body).toMatchObject({ allowed: false, code: 'trust_policy_violation', claim: 'repository_id' })
    expect(res.body.reason).toContain('pin repositoryId "555000555"')
  })

  it('allows the other repository when a policy pins its id explicitly', async () => {
    const agentId = await ownedAgent()
    expect((await c.exchange(RECREATED, { agentId })).status).toBe(403)
    await c.policy({ repository: ACME.repository, repositoryId: RECREATED.repositoryId, agentId })
    expect((await c.exchange(RECREATED, { agentId })).status).toBe(200)
  })
})
