/**
 * Two jobs of one workflow run, as the README tells users to write them: job 1 registers the
 * agent and federates, and hands only non-secret outputs (agent id, url, namespace) to job 2
 * through `needs`; job 2 gets its own tokens with issue-token and federate.
 */
import { describe, expect, it } from '@jest/globals'
import { call } from '../../shared/testing/api-call'
import { expectSucceeded, newIdentity, useE2eWorld } from './world'

describe('e2e: job 1 outputs feed job 2', () => {
  const world = useE2eWorld()

  it('job 2 issues its own token for job 1 agent and reaches job 1 workspace', async () => {
    const identity = newIdentity()
    await world.admin.createTrustPolicy({ repository: identity.repository })

    const job1 = await world.job(identity, { github: { job: 'setup' } })
    const register = await job1.run({ uses: './register-agent', id: 'register', with: { 'api-url': world.apiUrl, 'agent-name': 'pipeline@acme.example' } })
    const federate = await job1.run({ uses: './federate', id: 'federate', with: { 'api-url': world.apiUrl } })
    expectSucceeded(register)
    expectSucceeded(federate)
    // jobs.setup.outputs, as in the README's workflow.
    const { outputs: needs, skipped } = job1.job.jobOutputs({
      'agent-id': '${{ steps.register.outputs.agent-id }}',
      url: '${{ steps.federate.outputs.url }}',
      namespace: '${{ steps.federate.outputs.namespace }}',
      // A secret output is dropped by GitHub on the way to another job; users must not rely on it.
      token: '${{ steps.federate.outputs.token }}'
    })
    expect(skipped).toEqual(['token'])
    expect(needs['agent-id']).toBe(register.outputs['agent-id'])
    await job1.end()

    await world.admin.createTrustPolicy({ repository: identity.repository, agentId: needs['agent-id'] })
    const job2 = await world.job(identity, { github: { job: 'deploy' } })
    const issue = await job2.run({ uses: './issue-token', id: 'token', with: { 'api-url': world.apiUrl, 'agent-id': needs['agent-id'] ?? '' } })
    expectSucceeded(issue)
    const accessToken = issue.outputs['access-token'] ?? ''
    expect(await world.admin.introspect(accessToken)).toMatchObject({ active: true, sub: needs['agent-id'] })

    const again = await job2.run({ uses: './federate', id: 'federate', with: { 'api-url': world.apiUrl } })
    expect(again.outputs.created).toBe('false')
    expect(again.outputs.namespace).toBe(needs.namespace)
    const opened = await call(needs.url ?? '', 'GET', '', { token: again.outputs.token ?? '' })
    expect(opened.status).toBe(200)
    expect(opened.body).toMatchObject({ data: { namespace: needs.namespace } })

    const posts = await job2.end()
    expect(posts).toHaveLength(1)
    expectSucceeded(posts[0])
    expect(await world.admin.introspect(accessToken)).toMatchObject({ active: false })
  })
})
