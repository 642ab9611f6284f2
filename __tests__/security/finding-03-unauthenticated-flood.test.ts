/**
 * Finding 3 (medium): requests without a valid token cannot write the audit log without
 * limit. Failures before verification are limited per client address (TRUST_PROXY decides
 * which address), repeated refusals of one kind are audited in aggregate and counted in
 * metrics, and old audit events and expired credentials are deleted after
 * AUDIT_RETENTION_DAYS.
 */
import { beforeAll, describe, expect, it } from '@jest/globals'
import { loadConfig } from '../../shared/server/config'
import { Store } from '../../shared/server/store/store'
import { ACME, ADMIN_TOKEN, givenBootstrapPolicy, openTestDatabase, useTestServer, type TestServer } from '../server/helpers'

/** JWT-shaped, signed by nobody we trust: refused at verification (401), never trusted. */
function garbageToken(i: number): string {
  const part = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url')
  return `${part({ alg: 'RS256', kid: 'k' })}.${part({ iss: 'https://attacker.example', n: i })}.${'A'.repeat(40)}`
}

async function auditRows(server: TestServer, action: string): Promise<Array<{ detail: Record<string, unknown> }>> {
  const { rows } = await server.context.store.db.query<{ detail: Record<string, unknown> | string }>('SELECT detail FROM audit_events WHERE action = $1', [action])
  return rows.map((row) => ({ detail: typeof row.detail === 'string' ? JSON.parse(row.detail) : row.detail }))
}

// The tests of each describe below walk one server's state in order (a flood, then what the
// audit view shows; a bucket spent, then refilled): they are a sequence, not independent tests.

describe('finding 3: repeated refusals are audited in aggregate and counted in metrics', () => {
  const { server, client: c } = useTestServer() // per-address limit out of the way: every request reaches verification
  beforeAll(() => givenBootstrapPolicy(server, ACME))

  it('600 garbage tokens write two audit rows, not 600, and the metrics count all 600', async () => {
    for (let batch = 0; batch < 6; batch++) {
      const answers = await Promise.all(
        Array.from({ length: 100 }, (_, i) => c.api('POST', '/api/v1/oidc/token', { body: { provider: 'github', token: garbageToken(batch * 100 + i) } }))
      )
      expect(answers.every((res) => res.status === 401)).toBe(true)
    }
    expect(await auditRows(server, 'token.exchange')).toHaveLength(1) // the first, in full
    await server.context.denials.flush()
    const rows = await auditRows(server, 'token.exchange')
    expect(rows).toHaveLength(2)
    const aggregate = rows.find((row) => row.detail.aggregated === true)!
    expect(aggregate.detail).toMatchObject({ outcome: 'denied', code: 'invalid_token', count: 599 })
    expect((aggregate.detail.tokenSha256s as string[]).length).toBeGreaterThan(0)
    const metrics = await c.api('GET', '/metrics')
    expect(metrics.text).toContain('federate_unverified_failures_total{endpoint="POST /api/v1/oidc/token",reason="invalid_token"} 600')
  })

  it('keeps a real exchange visible in the audit view after a flood', async () => {
    expect((await c.exchange(ACME)).status).toBe(200)
    const audit = await c.admin('GET', '/api/v1/audit')
    expect(audit.body.items.some((e: { detail: { outcome?: string } }) => e.detail.outcome === 'issued')).toBe(true)
  })
})

describe('finding 3: failures before verification are limited per client address', () => {
  const { server, client: c } = useTestServer({ PREAUTH_FAILURE_BURST: '5', PREAUTH_FAILURE_PER_MINUTE: '6' })
  beforeAll(() => givenBootstrapPolicy(server, ACME))

  const garbage = (i: number, headers?: Record<string, string>) => c.api('POST', '/api/v1/oidc/token', { body: { provider: 'github', token: garbageToken(i) }, headers })

  it('verified requests are never counted', async () => {
    for (let i = 0; i < 8; i++) expect((await c.exchange(ACME)).status).toBe(200)
  })

  it('refuses the address with 429 + Retry-After after its burst of failures, before verifying or auditing anything', async () => {
    for (let i = 0; i < 5; i++) expect((await garbage(i)).status).toBe(401)
    await server.context.denials.flush()
    const before = (await auditRows(server, 'token.exchange')).length
    const blocked = await garbage(5)
    expect(blocked.status).toBe(429)
    expect(blocked.body.error).toBe('rate_limited')
    expect(Number(blocked.headers.get('retry-after'))).toBeGreaterThanOrEqual(1)
    // A wrong admin token is a failure too (no guessing it at full speed).
    expect((await c.api('GET', '/api/v1/audit', { token: 'not-the-admin-token-0000' })).status).toBe(429)
    await server.context.denials.flush()
    expect((await auditRows(server, 'token.exchange')).length).toBe(before)
    // Health checks and key discovery are never refused.
    expect((await c.api('GET', '/healthz')).status).toBe(200)
    expect((await c.api('GET', '/.well-known/jwks.json')).status).toBe(200)
  })

  it('refills with time', async () => {
    server.clock.offsetMs += 60_000
    expect((await garbage(6)).status).toBe(401)
  })

  it('ignores X-Forwarded-For unless TRUST_PROXY names the proxy', async () => {
    for (let i = 0; i < 6; i++) await garbage(100 + i, { 'x-forwarded-for': `198.51.100.${i}` })
    expect((await garbage(200, { 'x-forwarded-for': '198.51.100.99' })).status).toBe(429)
  })
})

describe('finding 3: TRUST_PROXY', () => {
  const { client: c } = useTestServer({ PREAUTH_FAILURE_BURST: '2', PREAUTH_FAILURE_PER_MINUTE: '1', TRUST_PROXY: '127.0.0.1' })

  it('limits each client the trusted proxy reports, not the proxy', async () => {
    const from = (address: string) => c.api('POST', '/api/v1/oidc/token', { body: { provider: 'github', token: garbageToken(1) }, headers: { 'x-forwarded-for': address } })
    expect((await from('203.0.113.1')).status).toBe(401)
    expect((await from('203.0.113.1')).status).toBe(401)
    expect((await from('203.0.113.1')).status).toBe(429)
    expect((await from('203.0.113.2')).status).toBe(401)
  })

  it('is validated at start', () => {
    expect(() => loadConfig({ ADMIN_TOKEN, TRUST_PROXY: 'not an address' })).toThrow(/TRUST_PROXY/)
    expect(loadConfig({ ADMIN_TOKEN, TRUST_PROXY: '10.0.0.0/8, loopback' }).trustProxy).toBe('10.0.0.0/8,loopback')
    expect(loadConfig({ ADMIN_TOKEN, TRUST_PROXY: '2' }).trustProxy).toBe(2)
    expect(loadConfig({ ADMIN_TOKEN }).trustProxy).toBe(false)
  })
})

describe('finding 3: retention', () => {
  it('deletes audit events and credentials older than AUDIT_RETENTION_DAYS, keeps the rest', async () => {
    expect(loadConfig({ ADMIN_TOKEN }).auditRetentionDays).toBe(90)
    expect(() => loadConfig({ ADMIN_TOKEN, AUDIT_RETENTION_DAYS: '0' })).toThrow(/AUDIT_RETENTION_DAYS/)
    const db = await openTestDatabase()
    try {
      let now = new Date('2026-01-01T00:00:00Z')
      const store = new Store(db, () => now)
      const credential = (expiresAt: Date) =>
        store.credentials.create({ kind: 'bootstrap', issuer: 'https://issuer.test', scope: 'agents:write', repository: 'a/b', repositoryId: '1', expiresAt })
      await store.audit.record({ action: 'policy.create', detail: { n: 'old' } })
      const old = await credential(new Date('2026-01-01T00:15:00Z'))
      now = new Date('2026-05-01T00:00:00Z')
      await store.audit.record({ action: 'policy.delete', detail: { n: 'new' } })
      const live = await credential(new Date('2026-05-01T00:15:00Z'))
      const deleted = await store.pruneRetention(new Date(now.getTime() - 90 * 24 * 3600 * 1000))
      expect(deleted).toEqual({ auditEvents: 1, credentials: 1 })
      expect((await store.audit.recent()).map((e) => e.action)).toEqual(['policy.delete'])
      expect(await store.credentials.get(old.id)).toBeUndefined()
      expect(await store.credentials.get(live.id)).toBeDefined()
    } finally {
      await db.close()
    }
  })
})
