/**
 * Finding 1 (high): identities are bound to their issuer. Two trusted issuers that number
 * their repositories alike: a token of issuer B never reaches issuer A's policies, agents,
 * workspaces, rate-limit buckets or Idempotency-Key scopes.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals'
import { createContext } from '../../shared/server/context'
import { loadConfig } from '../../shared/server/config'
import { MIGRATIONS, migrate } from '../../shared/server/store/migrations'
import { openPglite } from '../../shared/server/store/pglite'
import { LocalOidcIssuer, githubClaims } from '../../shared/testing/oidc-issuer'
import { ACME, ADMIN_TOKEN, client, startTestServer, type TestServer } from '../server/helpers'

describe('finding 1: identities are bound to their issuer', () => {
  let issuerB: LocalOidcIssuer
  let server: TestServer
  let c: ReturnType<typeof client>
  /** A token of issuer B for the same repository name and ids as ACME on issuer A. */
  const tokenB = (audience: string) => issuerB.mint({ audience, claims: githubClaims(ACME) })

  beforeAll(async () => {
    issuerB = await LocalOidcIssuer.start()
    server = await startTestServer({ RATE_LIMIT_BURST: '5', RATE_LIMIT_PER_MINUTE: '1' }, { extraIssuers: [issuerB.url] })
    c = client(server)
  })
  afterAll(async () => {
    await server.close()
    await issuerB.close()
  })

  it('requires an issuer on a trust policy when several are trusted, and stores it', async () => {
    const missing = await c.admin('POST', '/api/v1/oidc/trust-policies', { provider: 'github', repository: ACME.repository })
    expect(missing.status).toBe(400)
    expect(missing.body.error_description).toContain('issuer is required')
    const unknown = await c.admin('POST', '/api/v1/oidc/trust-policies', { provider: 'github', repository: ACME.repository, issuer: 'https://elsewhere.example' })
    expect(unknown.status).toBe(400)
    const created = await c.admin('POST', '/api/v1/oidc/trust-policies', {
      provider: 'github',
      repository: ACME.repository,
      repositoryId: ACME.repositoryId,
      issuer: server.issuer.url
    })
    expect(created.status).toBe(201)
    expect(created.body.issuer).toBe(server.issuer.url)
  })

  it("refuses issuer B's token under issuer A's policy (same repository name and id)", async () => {
    const fromA = await c.exchange(ACME)
    expect(fromA.status).toBe(200)
    const res = await c.api('POST', '/api/v1/oidc/token', { body: { provider: 'github', token: await tokenB(server.url) } })
    expect(res.status).toBe(403)
    expect(res.body.error).toBe('trust_policy_violation')
  })

  it("never hands issuer A's agent to issuer B, even through an id-pinned policy", async () => {
    const bootstrap = await c.bootstrap(ACME)
    const registered = await c.api('POST', '/api/v1/agents', { token: bootstrap, body: { name: 'bound@acme.example' } })
    expect(registered.status).toBe(201)
    const agentId = registered.body.agentId as string
    await c.admin('POST', '/api/v1/oidc/trust-policies', {
      provider: 'github',
      repository: ACME.repository,
      repositoryId: ACME.repositoryId,
      agentId,
      issuer: server.issuer.url
    })
    expect((await c.exchange(ACME, { agentId })).status).toBe(200)
    // A policy for issuer B cannot name A's agent either.
    const crossPolicy = await c.admin('POST', '/api/v1/oidc/trust-policies', {
      provider: 'github',
      repository: ACME.repository,
      repositoryId: ACME.repositoryId,
      agentId,
      issuer: issuerB.url
    })
    expect(crossPolicy.status).toBe(400)
    const res = await c.api('POST', '/api/v1/oidc/token', { body: { provider: 'github', token: await tokenB(server.url), agentId } })
    expect(res.status).toBe(404)
    expect(res.body.error).toBe('agent_not_found')
  })

  it('gives issuer B its own workspace, and issuer A keeps its own', async () => {
    const a1 = await c.federate(ACME)
    expect(a1.status).toBe(201)
    const b1 = await c.api('POST', '/v1/identity/federate', { token: await tokenB('persql') })
    expect(b1.status).toBe(201)
    expect(b1.body.data.created).toBe(true)
    expect(b1.body.data.namespace).not.toBe(a1.body.data.namespace)
    const a2 = await c.federate(ACME)
    expect(a2.body.data).toMatchObject({ created: false, namespace: a1.body.data.namespace })
    // B's token opens B's workspace only.
    const cross = await c.api('GET', `/v1/db/${a1.body.data.namespace}/main`, { token: b1.body.data.token })
    expect(cross.status).toBe(403)
  })

  it('keeps separate rate-limit buckets per issuer', async () => {
    // Exhaust A's bucket for this repository (burst 5, 1 per minute).
    let limited = false
    for (let i = 0; i < 8 && !limited; i++) limited = (await c.federate(ACME)).status === 429
    expect(limited).toBe(true)
    const b = await c.api('POST', '/v1/identity/federate', { token: await tokenB('persql') })
    expect(b.status).toBe(200)
  })

  it('scopes Idempotency-Keys to the issuer', async () => {
    await c.admin('POST', '/api/v1/oidc/trust-policies', { provider: 'github', repository: ACME.repository, issuer: issuerB.url })
    const other = await startTestServer({}, { extraIssuers: [issuerB.url] })
    try {
      const o = client(other)
      await o.admin('POST', '/api/v1/oidc/trust-policies', { provider: 'github', repository: ACME.repository, issuer: other.issuer.url })
      await o.admin('POST', '/api/v1/oidc/trust-policies', { provider: 'github', repository: ACME.repository, issuer: issuerB.url })
      const bootA = await o.bootstrap(ACME)
      const exB = await o.api('POST', '/api/v1/oidc/token', { body: { provider: 'github', token: await issuerB.mint({ audience: other.url, claims: githubClaims(ACME) }) } })
      expect(exB.status).toBe(200)
      const headers = { 'idempotency-key': 'same-key-1' }
      const a = await o.api('POST', '/api/v1/agents', { token: bootA, body: { name: 'idem-a@acme.example' }, headers })
      expect(a.status).toBe(201)
      // Same key, other body, other issuer: not a reuse (that would be a 422).
      const b = await o.api('POST', '/api/v1/agents', { token: exB.body.access_token as string, body: { name: 'idem-b@acme.example' }, headers })
      expect(b.status).toBe(201)
    } finally {
      await other.close()
    }
  })
})

describe('finding 1: rows from before the binding', () => {
  const legacy = async () => {
    const db = await openPglite()
    await migrate(
      db,
      MIGRATIONS.filter((m) => m.version <= 4)
    )
    await db.query("INSERT INTO trust_policies (id, provider, repository, created_at) VALUES ('7d3f6c2a-1b4e-4f5a-8c9d-0e1f2a3b4c5d', 'github', 'acme/old', now())")
    await db.query(
      "INSERT INTO agents (id, name, repository, repository_id, created_at) VALUES ('8e4a7d3b-2c5f-4a6b-9d0e-1f2a3b4c5d6e', 'old@acme.example', 'acme/old', '1', now())"
    )
    await migrate(db)
    return db
  }

  it('binds them to the one configured issuer at start', async () => {
    const db = await legacy()
    try {
      const config = loadConfig({ OIDC_ISSUERS: 'https://token.actions.githubusercontent.com', ADMIN_TOKEN })
      const context = await createContext({ config, db })
      expect((await context.store.policies.list())[0]!.issuer).toBe('https://token.actions.githubusercontent.com')
      expect((await context.store.agents.get('8e4a7d3b-2c5f-4a6b-9d0e-1f2a3b4c5d6e'))!.issuer).toBe('https://token.actions.githubusercontent.com')
    } finally {
      await db.close()
    }
  })

  it('refuses to guess when several issuers are configured', async () => {
    const db = await legacy()
    try {
      const config = loadConfig({ OIDC_ISSUERS: 'https://token.actions.githubusercontent.com,https://ghes.example.com/_services/token', ADMIN_TOKEN })
      await expect(createContext({ config, db })).rejects.toThrow(/start the server once with OIDC_ISSUERS set to the one issuer/)
    } finally {
      await db.close()
    }
  })
})
