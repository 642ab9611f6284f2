import { beforeAll, describe, expect, it } from '@jest/globals'
import { githubClaims } from '../../shared/testing/oidc-issuer'
import { ACME, ADMIN_TOKEN, OTHER, freshIdentity, givenBootstrapPolicy, oidcToken, useTestServer } from './helpers'

const { server, client: c } = useTestServer()

describe('POST /v1/identity/federate', () => {
  it('creates the workspace the first time (201) and answers it again with a fresh token (200)', async () => {
    const repo = freshIdentity('first')
    const first = await c.federate(repo)
    expect(first.status).toBe(201)
    expect(first.headers.get('cache-control')).toBe('no-store')
    expect(first.body.success).toBe(true)
    const data = first.body.data
    expect(data).toMatchObject({ database: 'main', identity: repo.repository, created: true })
    expect(data.url).toBe(`${server.url}/v1/db/${data.namespace}/main`)
    expect(typeof data.token).toBe('string')
    expect(Math.abs(Date.parse(data.expiresAt) - (Date.now() + 3_600_000))).toBeLessThan(10_000)

    const second = await c.federate(repo)
    expect(second.status).toBe(200)
    expect(second.body.data).toMatchObject({ namespace: data.namespace, url: data.url, created: false })
    expect(second.body.data.token).not.toBe(data.token)
  })

  it('gives one workspace and exactly one created:true under concurrent first calls', async () => {
    const repo = { repository: 'race/first', repositoryId: '31337', ownerId: '1' }
    const results = await Promise.all(Array.from({ length: 10 }, () => c.federate(repo)))
    expect(results.map((r) => r.status).sort()).toEqual([200, 200, 200, 200, 200, 200, 200, 200, 200, 201])
    expect(results.filter((r) => r.body.data.created === true)).toHaveLength(1)
    expect(new Set(results.map((r) => r.body.data.namespace)).size).toBe(1)
  })

  it('keeps the workspace after a rename and shows the new name', async () => {
    const before = await c.federate({ repository: 'old/name', repositoryId: '4040', ownerId: '1' })
    const after = await c.federate({ repository: 'new/name', repositoryId: '4040', ownerId: '1' })
    expect(after.status).toBe(200)
    expect(after.body.data.namespace).toBe(before.body.data.namespace)
    expect(after.body.data.identity).toBe('new/name')
    const ws = await c.api('GET', new URL(after.body.data.url).pathname, { token: before.body.data.token })
    expect(ws.body.data.identity).toBe('new/name')
  })

  it('a re-created repository with the same name but a new id gets another workspace', async () => {
    const a = await c.federate({ repository: 'same/name', repositoryId: '5001', ownerId: '1' })
    const b = await c.federate({ repository: 'same/name', repositoryId: '5002', ownerId: '1' })
    expect(b.status).toBe(201)
    expect(b.body.data.namespace).not.toBe(a.body.data.namespace)
  })

  it('refuses pull_request_target and workflow_run tokens with 403 event_not_permitted', async () => {
    for (const eventName of ['pull_request_target', 'workflow_run']) {
      const token = await server.issuer.mint({ audience: 'persql', claims: githubClaims({ ...ACME, eventName }) })
      const res = await c.api('POST', '/v1/identity/federate', { token })
      expect(res.status).toBe(403)
      expect(res.body).toMatchObject({ success: false, code: 'event_not_permitted' })
      expect(typeof res.body.error).toBe('string')
    }
  })

  it('answers 401 invalid_token in the Protocol B envelope for a missing or wrong-audience token', async () => {
    const none = await c.api('POST', '/v1/identity/federate')
    expect(none.status).toBe(401)
    expect(none.body).toMatchObject({ success: false, code: 'invalid_token' })
    const agentAudience = await c.api('POST', '/v1/identity/federate', { token: await oidcToken(server, server.url) })
    expect(agentAudience.status).toBe(401)
    expect(agentAudience.body.code).toBe('invalid_token')
  })

  it('answers 400 invalid_request for a bearer that is not a JWT', async () => {
    const res = await c.api('POST', '/v1/identity/federate', { token: 'not-a-jwt' })
    expect(res.status).toBe(400)
    expect(res.body).toMatchObject({ success: false, code: 'invalid_request' })
  })

  it('a federate-audience token never works at the agent exchange', async () => {
    await givenBootstrapPolicy(server, ACME)
    const res = await c.api('POST', '/api/v1/oidc/token', {
      body: { provider: 'github', token: await oidcToken(server, 'persql') }
    })
    expect(res.status).toBe(401)
    expect(res.body.error).toBe('invalid_token')
  })

  it('audits federation, denials included', async () => {
    const repo = freshIdentity('audited')
    expect((await c.federate(repo)).status).toBe(201)
    const denied = await server.issuer.mint({ audience: 'persql', claims: githubClaims({ ...repo, eventName: 'workflow_run' }) })
    expect((await c.api('POST', '/v1/identity/federate', { token: denied })).status).toBe(403)
    const all = await c.api('GET', '/api/v1/audit', { token: ADMIN_TOKEN })
    const federations = all.body.items.filter((e: { action: string; repository?: string }) => e.action === 'workspace.federate' && e.repository === repo.repository)
    expect(federations.some((e: { detail: { outcome: string } }) => e.detail.outcome === 'created')).toBe(true)
    expect(federations.some((e: { detail: { code?: string } }) => e.detail.code === 'event_not_permitted')).toBe(true)
    const created = federations.find((e: { detail: { outcome: string } }) => e.detail.outcome === 'created')
    expect(created.identityId).toBeTruthy()
    expect(created.credentialId).toBeTruthy()
  })
})

describe('GET <workspace url>', () => {
  let mine: { token: string; url: string; namespace: string }
  let theirs: { token: string; url: string }

  beforeAll(async () => {
    mine = (await c.federate(ACME)).body.data
    theirs = (await c.federate(OTHER)).body.data
  })

  it('answers the workspace for its own token', async () => {
    const res = await c.api('GET', new URL(mine.url).pathname, { token: mine.token })
    expect(res.status).toBe(200)
    expect(res.body).toEqual({
      success: true,
      data: {
        namespace: mine.namespace,
        database: 'main',
        identity: 'acme/widgets',
        usage: { statements: 0, rowsRead: 0, rowsWritten: 0, bytes: 0 },
        limits: { statementTimeoutMs: 5000, maxRows: 10_000, maxResultBytes: 4 * 1024 * 1024, maxBytes: 100 * 1024 * 1024 }
      }
    })
  })

  it("answers 403 for another workspace's token", async () => {
    const res = await c.api('GET', new URL(mine.url).pathname, { token: theirs.token })
    expect(res.status).toBe(403)
    expect(res.body).toMatchObject({ success: false, code: 'forbidden' })
  })

  it('answers 401 without a token, with a made-up one, or with a Protocol A token', async () => {
    const path = new URL(mine.url).pathname
    expect((await c.api('GET', path)).status).toBe(401)
    expect((await c.api('GET', path, { token: 'fws_' + 'A'.repeat(43) })).status).toBe(401)
    const agentSide = freshIdentity('agent-side')
    await givenBootstrapPolicy(server, agentSide)
    const bootstrap = await c.bootstrap(agentSide)
    expect((await c.api('GET', path, { token: bootstrap })).status).toBe(401)
  })

  it('answers 401 for an expired token', async () => {
    const fresh = (await c.federate(ACME)).body.data
    server.clock.offsetMs = 3_601_000
    try {
      const res = await c.api('GET', new URL(fresh.url).pathname, { token: fresh.token })
      expect(res.status).toBe(401)
      expect(res.body).toMatchObject({ success: false, code: 'invalid_token' })
    } finally {
      server.clock.offsetMs = 0
    }
  })

  it('answers 401 for a revoked token (RFC 7009 revocation works for workspace tokens)', async () => {
    const fresh = (await c.federate(ACME)).body.data
    const introspected = await c.api('POST', '/api/v1/oauth/introspect', { token: ADMIN_TOKEN, body: { token: fresh.token } })
    expect(introspected.body).toMatchObject({ active: true, scope: 'db:read db:write', namespace: fresh.namespace })
    expect((await c.api('POST', '/api/v1/oauth/revoke', { body: { token: fresh.token } })).status).toBe(200)
    const res = await c.api('GET', new URL(fresh.url).pathname, { token: fresh.token })
    expect(res.status).toBe(401)
    // The other token of the same workspace still works.
    expect((await c.api('GET', new URL(mine.url).pathname, { token: mine.token })).status).toBe(200)
  })
})

describe('FEDERATE_EVENTS and FEDERATE_AUDIENCE', () => {
  const { server: custom, client: cc } = useTestServer({ FEDERATE_EVENTS: 'workflow_run', FEDERATE_AUDIENCE: 'my-db' })

  it('allows a listed event and uses the configured audience', async () => {
    const token = await custom.issuer.mint({ audience: 'my-db', claims: githubClaims({ ...ACME, eventName: 'workflow_run' }) })
    expect((await cc.api('POST', '/v1/identity/federate', { token })).status).toBe(201)
    const prt = await custom.issuer.mint({ audience: 'my-db', claims: githubClaims({ ...ACME, eventName: 'pull_request_target' }) })
    expect((await cc.api('POST', '/v1/identity/federate', { token: prt })).status).toBe(403)
    expect((await cc.federate(ACME, 'persql')).status).toBe(401)
  })
})
