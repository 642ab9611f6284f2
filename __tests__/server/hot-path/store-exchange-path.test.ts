/**
 * The store methods of the exchange's hot path: the credential + audit event (+ agent's last
 * use) statement, and the policies of one repository that stand in for the whole table.
 */
import { randomUUID } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals'
import type { Db } from '../../../shared/server/store/db'
import { Store, type NewCredential, type StoredPolicy } from '../../../shared/server/store/store'
import { decide, type GitHubTokenClaims } from '../../../shared/server/trust'
import { githubClaims } from '../../../shared/testing/oidc-issuer'
import { openTestDatabase } from '../helpers'

const ISSUER = 'https://issuer.test'

describe('store: exchange hot path', () => {
  let db: Db
  let now = new Date('2026-03-01T00:00:00Z')
  let store: Store

  beforeAll(async () => {
    db = await openTestDatabase()
    store = new Store(db, () => now)
  })
  afterAll(() => db.close())

  const credentialInput = (agentId?: string) =>
    ({
      id: randomUUID(),
      issuer: ISSUER,
      kind: agentId ? 'agent' : 'bootstrap',
      agentId,
      scope: agentId ? 'agent' : 'agents:write',
      repository: 'acme/path',
      repositoryId: '4242',
      tokenSha256: randomUUID().replace(/-/g, '').padEnd(64, '0'),
      expiresAt: new Date(now.getTime() + 600_000)
    }) satisfies NewCredential

  it('writes the credential, its audit event and the agent last use in one statement', async () => {
    const { agent } = await store.agents.register({ issuer: ISSUER, name: 'path@agents.example', description: '', repository: 'acme/path', repositoryId: '4242' })
    expect(agent.lastUsedAt).toBeNull()
    now = new Date('2026-03-01T00:05:00Z')
    const input = credentialInput(agent.id)
    const credential = await store.credentials.createWithAudit(
      input,
      { action: 'token.exchange', identityId: agent.id, repository: 'acme/path', repositoryId: '4242', detail: { outcome: 'issued' } },
      agent.id
    )
    expect(credential).toMatchObject({ id: input.id, kind: 'agent', agentId: agent.id, createdAt: now, revokedAt: null })
    expect(await store.credentials.get(input.id)).toEqual(credential)
    const events = (await store.audit.forIdentity(agent.id)).filter((e) => e.credentialId === input.id)
    expect(events).toHaveLength(1)
    expect(events[0]).toMatchObject({ action: 'token.exchange', at: now, repository: 'acme/path', repositoryId: '4242', detail: { outcome: 'issued' } })
    expect((await store.agents.get(agent.id))!.lastUsedAt).toEqual(now)
  })

  it('records the agent last use to the minute: a busy agent row is not rewritten by every exchange', async () => {
    const { agent } = await store.agents.register({ issuer: ISSUER, name: 'busy@agents.example', description: '', repository: 'acme/path', repositoryId: '4242' })
    const exchangeAt = async (at: string) => {
      now = new Date(at)
      await store.credentials.createWithAudit(credentialInput(agent.id), { action: 'token.exchange', identityId: agent.id, detail: {} }, agent.id)
      return (await store.agents.get(agent.id))!.lastUsedAt
    }
    expect(await exchangeAt('2026-03-01T01:00:00Z')).toEqual(new Date('2026-03-01T01:00:00Z'))
    expect(await exchangeAt('2026-03-01T01:00:59Z')).toEqual(new Date('2026-03-01T01:00:00Z'))
    expect(await exchangeAt('2026-03-01T01:01:01Z')).toEqual(new Date('2026-03-01T01:01:01Z'))
  })

  it('leaves agents alone without touchAgentId', async () => {
    const { agent } = await store.agents.register({ issuer: ISSUER, name: 'untouched@agents.example', description: '', repository: 'acme/path', repositoryId: '4242' })
    const input = credentialInput()
    await store.credentials.createWithAudit(input, { action: 'token.exchange', detail: {} })
    const { rows } = await db.query<{ n: number }>('SELECT count(*)::int AS n FROM audit_events WHERE credential_id = $1', [input.id])
    expect(rows[0]!.n).toBe(1)
    expect((await store.agents.get(agent.id))!.lastUsedAt).toBeNull()
  })

  it('writes neither row when the audit event cannot be written, nor when the credential cannot', async () => {
    const before = await db.query<{ c: number; a: number }>('SELECT (SELECT count(*)::int FROM credentials) AS c, (SELECT count(*)::int FROM audit_events) AS a')
    const badAudit = credentialInput()
    await expect(store.credentials.createWithAudit(badAudit, { action: null as unknown as 'token.exchange', detail: {} })).rejects.toThrow()
    // An agent id no agent has: the credential's foreign key fails.
    const badCredential = credentialInput('00000000-0000-4000-8000-000000000000')
    await expect(store.credentials.createWithAudit(badCredential, { action: 'token.exchange' })).rejects.toThrow()
    const after = await db.query('SELECT (SELECT count(*)::int FROM credentials) AS c, (SELECT count(*)::int FROM audit_events) AS a')
    expect(after.rows[0]).toEqual(before.rows[0])
  })

  it('policiesConcerning keeps every policy decide() can use, so decisions equal those on the whole table', async () => {
    await db.query('DELETE FROM trust_policies')
    const agentA = '11111111-1111-4111-8111-111111111111'
    const agentB = '22222222-2222-4222-8222-222222222222'
    const specs: Array<Omit<StoredPolicy, 'id' | 'createdAt'>> = []
    for (const repository of ['acme/widgets', 'Acme/Widgets', 'acme/old-name', 'other/repo', 'acme/widgets-2']) {
      for (const repositoryId of [undefined, '100', '999']) {
        for (const agentId of [undefined, agentA]) {
          specs.push({ issuer: ISSUER, provider: 'github', repository, repositoryId, agentId, branch: 'main' })
          specs.push({ issuer: ISSUER, provider: 'github', repository, repositoryId, agentId, environment: 'prod', events: ['push'] })
        }
      }
    }
    for (const spec of specs) {
      now = new Date(now.getTime() + 1000)
      await store.policies.create(spec)
    }
    const all = await store.policies.list()
    const claimSets: GitHubTokenClaims[] = []
    for (const repository of ['acme/widgets', 'ACME/WIDGETS', 'acme/renamed', 'nobody/here']) {
      for (const repositoryId of ['100', '999', '5']) {
        for (const ref of ['refs/heads/main', 'refs/heads/dev']) {
          for (const environment of [undefined, 'prod']) {
            claimSets.push({ ...githubClaims({ repository, repositoryId, ownerId: '7', ref, environment }), iss: ISSUER } as unknown as GitHubTokenClaims)
          }
        }
      }
    }
    let allowed = 0
    for (const claims of claimSets) {
      const some = await store.policies.concerning(ISSUER, claims.repository, claims.repository_id)
      expect(some.length).toBeLessThan(all.length)
      for (const agentId of [undefined, agentA, agentB]) {
        const agent = agentId ? { id: agentId, repositoryId: '100' } : undefined
        const expected = decide(claims, all, agent)
        expect(decide(claims, some, agent)).toEqual(expected)
        if (expected.allowed) allowed++
      }
    }
    expect(allowed).toBeGreaterThan(0) // the grid reaches both outcomes
  })

  it('policiesConcerning matches names case-insensitively and pinned ids across renames', async () => {
    const ids = (policies: StoredPolicy[]) => policies.map((p) => `${p.repository}|${p.repositoryId ?? ''}`)
    const found = ids(await store.policies.concerning(ISSUER, 'ACME/widgets', '999'))
    expect(found).toContain('acme/widgets|')
    expect(found).toContain('Acme/Widgets|100')
    expect(found).toContain('acme/old-name|999')
    expect(found).toContain('other/repo|999')
    expect(found).not.toContain('acme/old-name|100')
    expect(found).not.toContain('acme/widgets-2|')
  })

  it('exchangeInputs reads the agent and the same policies in one statement', async () => {
    const { agent } = await store.agents.register({ issuer: ISSUER, name: 'inputs@agents.example', description: 'd', repository: 'acme/widgets', repositoryId: '100' })
    await store.agents.disable(agent.id)
    const expectedAgent = await store.agents.get(agent.id)
    for (const [repository, repositoryId] of [
      ['ACME/widgets', '999'],
      ['acme/renamed', '100'],
      ['nobody/here', '5']
    ] as const) {
      const read = await store.exchangeInputs.read(agent.id, ISSUER, repository, repositoryId)
      expect(read.agent).toEqual(expectedAgent)
      expect(read.policies).toEqual(await store.policies.concerning(ISSUER, repository, repositoryId))
    }
    expect((await store.exchangeInputs.read(agent.id, ISSUER, 'acme/widgets', '100')).policies.some((p) => p.events)).toBe(true)
    expect(await store.exchangeInputs.read(undefined, ISSUER, 'nobody/here', '5')).toEqual({ agent: undefined, policies: [] })
    expect((await store.exchangeInputs.read('00000000-0000-4000-8000-000000000000', ISSUER, 'acme/widgets', '1')).agent).toBeUndefined()
  })
})
