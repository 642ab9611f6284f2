/**
 * Finding 4 (low): agent registration is limited per repository (a rate and a cap on new
 * agents) and agent names are compared case-insensitively.
 */
import { describe, expect, it } from '@jest/globals'
import type { RepoIdentity } from '../../shared/testing/oidc-issuer'
import { ACME, OTHER, freshIdentity, givenBootstrapPolicy, useTestServer } from '../server/helpers'

describe('finding 4: agent registration limits and case-insensitive names', () => {
  const { server, client: c } = useTestServer({ MAX_AGENTS_PER_REPOSITORY: '3', AGENT_REGISTRATION_BURST: '10', AGENT_REGISTRATION_PER_MINUTE: '1' })

  const register = async (name: string, identity: RepoIdentity) => c.api('POST', '/api/v1/agents', { token: await c.bootstrap(identity), body: { name } })
  /** A repository of its own for each test: its own agents to count. */
  const repository = async (label: string): Promise<RepoIdentity> => {
    const identity = freshIdentity(label)
    await givenBootstrapPolicy(server, identity)
    return identity
  }

  it('compares names case-insensitively: the same repository gets its agent back', async () => {
    const owner = await repository('owner')
    const first = await register('deploy@acme.example', owner)
    expect(first.status).toBe(201)
    const upper = await register('DEPLOY@ACME.EXAMPLE', owner)
    expect(upper.status).toBe(200)
    expect(upper.body).toMatchObject({ agentId: first.body.agentId, created: false })
  })

  it('compares names case-insensitively: another repository cannot take the upper-case twin', async () => {
    expect((await register('release@acme.example', await repository('owner'))).status).toBe(201)
    const res = await register('Release@Acme.Example', await repository('other'))
    expect(res.status).toBe(409)
    expect(res.body.error).toBe('agent_exists')
  })

  it('caps the agents one repository owns; re-registering an existing one still works', async () => {
    const owner = await repository('capped')
    expect((await register('one@capped.example', owner)).status).toBe(201)
    expect((await register('two@capped.example', owner)).status).toBe(201)
    expect((await register('three@capped.example', owner)).status).toBe(201)
    const fourth = await register('four@capped.example', owner)
    expect(fourth.status).toBe(403)
    expect(fourth.body.error).toBe('agent_limit_reached')
    expect(fourth.body.error_description).toContain('MAX_AGENTS_PER_REPOSITORY')
    expect((await register('two@capped.example', owner)).status).toBe(200)
    // Nothing of the refused registration was stored.
    const again = await register('four@capped.example', owner)
    expect(again.status).toBe(403)
  })
})

describe('finding 4: new agents are rate-limited per repository', () => {
  const { server, client: c } = useTestServer({ AGENT_REGISTRATION_BURST: '2', AGENT_REGISTRATION_PER_MINUTE: '1' })

  it('answers 429 with Retry-After past the burst, for that repository only, one token serving many calls', async () => {
    await givenBootstrapPolicy(server, ACME)
    await givenBootstrapPolicy(server, OTHER)
    const token = await c.bootstrap(ACME)
    const names = ['r1@acme.example', 'r2@acme.example', 'r3@acme.example']
    const statuses = []
    for (const name of names) statuses.push((await c.api('POST', '/api/v1/agents', { token, body: { name } })).status)
    expect(statuses).toEqual([201, 201, 429])
    const limited = await c.api('POST', '/api/v1/agents', { token, body: { name: 'r4@acme.example' } })
    expect(Number(limited.headers.get('retry-after'))).toBeGreaterThanOrEqual(1)
    // Existing names cost nothing; another repository has its own bucket.
    expect((await c.api('POST', '/api/v1/agents', { token, body: { name: 'r1@acme.example' } })).status).toBe(200)
    const other = await c.api('POST', '/api/v1/agents', { token: await c.bootstrap(OTHER), body: { name: 'r1@other.example' } })
    expect(other.status).toBe(201)
  })
})

describe('finding 8 (part): an authenticated route answers 401 before judging the body', () => {
  const { client: c } = useTestServer()

  it('POST /api/v1/agents without credentials and with a bad body is a 401', async () => {
    const res = await c.api('POST', '/api/v1/agents', { body: { nonsense: true } })
    expect(res.status).toBe(401)
    expect(res.body.error).toBe('invalid_token')
  })
})
