/**
 * The same bundles on Node 20 (this machine's runtime, and older self-hosted runners):
 * a compact happy path per action, so a Node 24-only API does not slip into dist/.
 */
import { describe, expect, it } from '@jest/globals'
import { expectSucceeded, newIdentity, useE2eWorld } from './world'

describe('e2e smoke: the bundles under Node 20', () => {
  const world = useE2eWorld()

  it('register-agent, issue-token (with post revocation) and federate work on Node 20', async () => {
    const identity = newIdentity()
    await world.admin.createTrustPolicy({ repository: identity.repository })
    const job = await world.job(identity, { runtime: 'node20' })
    const register = await job.run({ uses: './register-agent', with: { 'api-url': world.apiUrl, 'agent-name': 'old-node@acme.example' } })
    expectSucceeded(register)
    const agentId = register.outputs['agent-id'] ?? ''
    await world.admin.createTrustPolicy({ repository: identity.repository, agentId })
    const issue = await job.run({ uses: './issue-token', with: { 'api-url': world.apiUrl, 'agent-id': agentId } })
    expectSucceeded(issue)
    const federate = await job.run({ uses: './federate', with: { 'api-url': world.apiUrl } })
    expect(federate.outputs.created).toBe('true')
    const posts = await job.end()
    expect(posts).toHaveLength(1)
    expectSucceeded(posts[0])
    expect(await world.admin.introspect(issue.outputs['access-token'] ?? '')).toMatchObject({ active: false })
  })
})
