/**
 * Three reference-server processes on one PostgreSQL (behind one PUBLIC_URL): races that
 * must give one workspace and one agent, tokens that cross instances, revocation and
 * disabling seen everywhere at once, one JWKS, and a rate limit shared by all instances.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals'
import { createLocalJWKSet, jwtVerify } from 'jose'
import { admin, call, Cluster, repo } from './cluster'

const RATE_BURST = 60

describe('scale: three instances on one PostgreSQL', () => {
  let cluster: Cluster
  const at = (i: number): string => cluster.instances[i % cluster.instances.length]!.url

  beforeAll(async () => {
    // One token per minute after the burst: within a test the bucket does not refill.
    cluster = await Cluster.start({ env: { RATE_LIMIT_BURST: String(RATE_BURST), RATE_LIMIT_PER_MINUTE: '1' } })
  }, 90_000)
  afterAll(async () => {
    await cluster?.stop()
  })

  /** A trust policy for `identity` (bootstrap, or for one agent). */
  async function policy(identity: ReturnType<typeof repo>, agentId?: string): Promise<void> {
    const res = await admin(at(0), 'POST', '/api/v1/oidc/trust-policies', { provider: 'github', repository: identity.repository, ...(agentId ? { agentId } : {}) })
    expect(res.status).toBe(201)
  }

  async function exchange(i: number, identity: ReturnType<typeof repo>, agentId?: string) {
    return call(at(i), 'POST', '/api/v1/oidc/token', {
      body: { provider: 'github', token: await cluster.mint(identity, 'agents'), ...(agentId ? { agentId } : {}) }
    })
  }

  it('every instance publishes the same JWKS: one signing key for all', async () => {
    const docs = await Promise.all(cluster.instances.map((i) => call(i.url, 'GET', '/.well-known/jwks.json')))
    expect(docs[0]!.body.keys).toHaveLength(1)
    for (const doc of docs) expect(doc.body).toEqual(docs[0]!.body)
    const { rows } = await cluster.db.query("SELECT count(*)::int AS n FROM signing_keys WHERE status = 'active'")
    expect(rows[0].n).toBe(1)
  })

  it('50 concurrent first federations of one repository across instances: one workspace, one created:true', async () => {
    const identity = repo('federate-race')
    const tokens = await Promise.all(Array.from({ length: 50 }, () => cluster.mint(identity, 'federate')))
    const results = await Promise.all(tokens.map((token, i) => call(at(i), 'POST', '/v1/identity/federate', { token })))
    expect(results.map((r) => r.status).filter((s) => s !== 200 && s !== 201)).toEqual([])
    expect(results.filter((r) => r.status === 201)).toHaveLength(1)
    expect(results.filter((r) => r.body.data.created === true)).toHaveLength(1)
    expect(new Set(results.map((r) => r.body.data.namespace)).size).toBe(1)
    const { rows } = await cluster.db.query('SELECT count(*)::int AS n FROM workspaces WHERE repository_id = $1', [identity.repositoryId])
    expect(rows[0].n).toBe(1)
    // Each of the 50 got its own working token, whichever instance checks it.
    const opened = await Promise.all(results.map((r, i) => call(at(i + 1), 'GET', new URL(r.body.data.url).pathname, { token: r.body.data.token })))
    expect(opened.map((o) => o.status)).toEqual(Array(50).fill(200))
  })

  it('50 concurrent registrations of one agent name across instances: one agent', async () => {
    const identity = repo('register-race')
    await policy(identity)
    const bootstrap = await exchange(0, identity)
    expect(bootstrap.status).toBe(200)
    const name = `race-${identity.repositoryId}@scale.example`
    const results = await Promise.all(Array.from({ length: 50 }, (_, i) => call(at(i), 'POST', '/api/v1/agents', { token: bootstrap.body.access_token, body: { name } })))
    expect(results.filter((r) => r.status === 201)).toHaveLength(1)
    expect(results.filter((r) => r.status === 200)).toHaveLength(49)
    expect(new Set(results.map((r) => r.body.agentId)).size).toBe(1)
    const { rows } = await cluster.db.query('SELECT count(*)::int AS n FROM agents WHERE name = $1', [name])
    expect(rows[0].n).toBe(1)
  })

  describe('tokens across instances', () => {
    const identity = repo('cross')
    let agentId: string

    beforeAll(async () => {
      await policy(identity)
      const bootstrap = await exchange(0, identity)
      const registered = await call(at(1), 'POST', '/api/v1/agents', { token: bootstrap.body.access_token, body: { name: `cross-${identity.repositoryId}@scale.example` } })
      expect(registered.status).toBe(201)
      agentId = registered.body.agentId
      await policy(identity, agentId)
    })

    it('a token issued by one instance verifies offline with any JWKS and introspects at the others', async () => {
      const issued = await exchange(0, identity, agentId)
      expect(issued.status).toBe(200)
      const token = issued.body.access_token as string
      for (const instance of cluster.instances) {
        const jwks = createLocalJWKSet((await call(instance.url, 'GET', '/.well-known/jwks.json')).body)
        const { payload } = await jwtVerify(token, jwks, { issuer: cluster.publicUrl, audience: cluster.publicUrl })
        expect(payload.sub).toBe(agentId)
      }
      for (const i of [1, 2]) {
        const introspected = await admin(at(i), 'POST', '/api/v1/oauth/introspect', { token })
        expect(introspected.body).toMatchObject({ active: true, sub: agentId, scope: 'agent' })
      }
    })

    it('a credential revoked at one instance is refused at the others at once', async () => {
      // Bootstrap token: revoked by its holder (RFC 7009) at instance 0, then used at 1 and 2.
      const bootstrap = (await exchange(1, identity)).body.access_token as string
      expect((await call(at(0), 'POST', '/api/v1/oauth/revoke', { body: { token: bootstrap } })).status).toBe(200)
      for (const i of [1, 2]) {
        const refused = await call(at(i), 'POST', '/api/v1/agents', { token: bootstrap, body: { name: `late-${i}-${identity.repositoryId}@scale.example` } })
        expect(refused.status).toBe(401)
      }
      // Agent token: revoked by the admin API at instance 2, inactive at 0 and 1.
      const issued = await exchange(0, identity, agentId)
      const jti = (await admin(at(1), 'POST', '/api/v1/oauth/introspect', { token: issued.body.access_token })).body.jti
      expect((await admin(at(2), 'POST', `/api/v1/agents/${agentId}/credentials/${jti}/revoke`)).status).toBe(200)
      for (const i of [0, 1]) {
        expect((await admin(at(i), 'POST', '/api/v1/oauth/introspect', { token: issued.body.access_token })).body.active).toBe(false)
      }
    })

    it('an identity disabled at one instance gets no token and its tokens stop working at the others', async () => {
      const issued = await exchange(2, identity, agentId)
      expect(issued.status).toBe(200)
      expect((await admin(at(0), 'POST', `/api/v1/agents/${agentId}/disable`)).status).toBe(200)
      for (const i of [1, 2]) {
        expect((await admin(at(i), 'POST', '/api/v1/oauth/introspect', { token: issued.body.access_token })).body.active).toBe(false)
        const refused = await exchange(i, identity, agentId)
        expect(refused.status).toBe(404)
        expect(refused.body.error).toBe('agent_not_found')
      }
    })
  })

  it('the per-repository rate limit is shared by all instances (exchange and federate, 429 + Retry-After)', async () => {
    const limited = repo('limited')
    const other = repo('unlimited')
    await policy(limited)
    await policy(other)
    const over = 12
    const tokens = await Promise.all(Array.from({ length: RATE_BURST + over }, () => cluster.mint(limited, 'agents')))
    const results = await Promise.all(tokens.map((token, i) => call(at(i), 'POST', '/api/v1/oidc/token', { body: { provider: 'github', token } })))
    // One bucket for the repository, not one per instance (three per-instance buckets would allow all).
    expect(results.filter((r) => r.status === 200).length).toBe(RATE_BURST)
    const refused = results.filter((r) => r.status === 429)
    expect(refused.length).toBe(over)
    for (const r of refused) {
      expect(r.body.error).toBe('rate_limited')
      expect(Number(r.headers.get('retry-after'))).toBeGreaterThanOrEqual(1)
    }
    // Federate spends the same repository's bucket, on every instance.
    for (const instance of cluster.instances) {
      const federated = await call(instance.url, 'POST', '/v1/identity/federate', { token: await cluster.mint(limited, 'federate') })
      expect(federated.status).toBe(429)
      expect(federated.body).toMatchObject({ success: false, code: 'rate_limited' })
      expect(Number(federated.headers.get('retry-after'))).toBeGreaterThanOrEqual(1)
    }
    // Another repository is not affected.
    expect((await exchange(2, other)).status).toBe(200)
  })
})
