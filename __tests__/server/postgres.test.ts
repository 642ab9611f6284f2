import { afterAll, beforeAll, describe, expect, it } from '@jest/globals'
import { OuterStoreInTransactionError, Store } from '../../shared/server/store/store'
import type { FastifyInstance } from 'fastify'
import { buildServer } from '../../shared/server/app'
import { loadConfig, resolvePublicUrl } from '../../shared/server/config'
import { createContext } from '../../shared/server/context'
import type { Db } from '../../shared/server/store/db'
import { MIGRATIONS, migrate } from '../../shared/server/store/migrations'
import { openDatabase } from '../../shared/server/store/open'
import { LocalOidcIssuer } from '../../shared/testing/oidc-issuer'
import { startPostgres, type TestPostgres } from '../../shared/testing/postgres'
import { ADMIN_TOKEN, call } from './helpers'

/** Two server instances sharing one PostgreSQL, as behind a load balancer. */
describe('PostgreSQL driver: several instances on one database', () => {
  let postgres: TestPostgres
  let issuer: LocalOidcIssuer
  const instances: Array<{ app: FastifyInstance; db: Db; url: string }> = []
  const publicUrl = 'http://127.0.0.1:1' // shared origin (a balancer in front of both)

  beforeAll(async () => {
    postgres = await startPostgres()
    issuer = await LocalOidcIssuer.start()
    // Six agents per repository: the last test races past that cap on both instances.
    const config = loadConfig({ OIDC_ISSUERS: issuer.url, ADMIN_TOKEN, PUBLIC_URL: publicUrl, DATABASE_URL: postgres.url, MAX_AGENTS_PER_REPOSITORY: '6' })
    // Both open (and migrate) at once: the advisory lock serializes them.
    const dbs = await Promise.all([openDatabase({ databaseUrl: postgres.url }), openDatabase({ databaseUrl: postgres.url })])
    const contexts = await Promise.all(dbs.map((db) => createContext({ config, db })))
    for (const [i, context] of contexts.entries()) {
      const app = await buildServer(context)
      await app.listen({ port: 0, host: '127.0.0.1' })
      const address = app.server.address()
      const port = typeof address === 'object' && address ? address.port : 0
      instances.push({ app, db: dbs[i]!, url: `http://127.0.0.1:${port}` })
      expect(resolvePublicUrl(config, port)).toBe(publicUrl)
    }
  })
  afterAll(async () => {
    for (const { app, db } of instances) {
      await app.close()
      await db.close()
    }
    await issuer?.close()
    await postgres?.stop()
  })

  it('migrated once, and migrating again is a no-op', async () => {
    const { rows } = await instances[0]!.db.query<{ version: number }>('SELECT version FROM schema_migrations ORDER BY version')
    expect(rows.map((r) => Number(r.version))).toEqual(MIGRATIONS.map((m) => m.version))
    expect(await migrate(instances[1]!.db)).toEqual([])
  })

  it('both instances publish the same JWKS (one key generated, not two)', async () => {
    const [a, b] = await Promise.all(instances.map(({ url }) => call(url, 'GET', '/.well-known/jwks.json')))
    expect(a!.body.keys).toHaveLength(1)
    expect(b!.body).toEqual(a!.body)
  })

  it('a token issued by one instance is accepted, then revoked, on the other', async () => {
    const [a, b] = instances
    expect((await call(a!.url, 'POST', '/api/v1/oidc/trust-policies', { token: ADMIN_TOKEN, body: { provider: 'github', repository: 'acme/widgets' } })).status).toBe(201)
    const exchange = await call(a!.url, 'POST', '/api/v1/oidc/token', {
      body: { provider: 'github', token: await issuer.mint({ audience: publicUrl }) }
    })
    expect(exchange.status).toBe(200)
    const token = exchange.body.access_token
    const registered = await call(b!.url, 'POST', '/api/v1/agents', { token, body: { name: 'pg@acme.example' } })
    expect(registered.status).toBe(201)
    expect((await call(a!.url, 'POST', '/api/v1/oauth/revoke', { body: { token } })).status).toBe(200)
    const after = await call(b!.url, 'POST', '/api/v1/agents', { token, body: { name: 'pg2@acme.example' } })
    expect(after.status).toBe(401)
  })

  it('concurrent first federations on both instances create one workspace, exactly one created:true', async () => {
    const token = await issuer.mint({ audience: 'persql' })
    const results = await Promise.all(Array.from({ length: 20 }, (_, i) => call(instances[i % 2]!.url, 'POST', '/v1/identity/federate', { token })))
    expect(results.every((r) => r.status === 200 || r.status === 201)).toBe(true)
    expect(results.filter((r) => r.body.data.created)).toHaveLength(1)
    expect(new Set(results.map((r) => r.body.data.namespace)).size).toBe(1)
  })

  it('concurrent registrations of one name on both instances give one agent', async () => {
    const exchange = await call(instances[0]!.url, 'POST', '/api/v1/oidc/token', {
      body: { provider: 'github', token: await issuer.mint({ audience: publicUrl }) }
    })
    const token = exchange.body.access_token
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) => call(instances[i % 2]!.url, 'POST', '/api/v1/agents', { token, body: { name: 'race-pg@acme.example' } }))
    )
    expect(results.filter((r) => r.status === 201)).toHaveLength(1)
    expect(results.filter((r) => r.status === 200)).toHaveLength(19)
    expect(new Set(results.map((r) => r.body.agentId)).size).toBe(1)
  })

  it('the same Idempotency-Key racing on both instances answers the first response everywhere', async () => {
    const exchange = await call(instances[0]!.url, 'POST', '/api/v1/oidc/token', {
      body: { provider: 'github', token: await issuer.mint({ audience: publicUrl }) }
    })
    const token = exchange.body.access_token
    const results = await Promise.all(
      Array.from({ length: 10 }, (_, i) =>
        call(instances[i % 2]!.url, 'POST', '/api/v1/agents', {
          token,
          headers: { 'idempotency-key': 'race-key' },
          body: { name: 'idem-pg@acme.example' }
        })
      )
    )
    expect(new Set(results.map((r) => r.status))).toEqual(new Set([201]))
    expect(new Set(results.map((r) => r.text)).size).toBe(1)
  })

  it('throws when the outer store is used inside one of its transactions (the statement would escape it)', async () => {
    const store = new Store(instances[0]!.db)
    const outcome = store.transaction(async () => {
      await store.audit.record({ action: 'policy.delete', detail: { escaped: true } })
    })
    await expect(outcome).rejects.toThrow(OuterStoreInTransactionError)
    const { rows } = await instances[0]!.db.query("SELECT 1 FROM audit_events WHERE detail->>'escaped' = 'true'")
    expect(rows).toHaveLength(0)
  })

  it('the agent cap holds when new agents race on both instances (finding 4)', async () => {
    const exchange = await call(instances[1]!.url, 'POST', '/api/v1/oidc/token', {
      body: { provider: 'github', token: await issuer.mint({ audience: publicUrl }) }
    })
    const token = exchange.body.access_token
    const { rows } = await instances[0]!.db.query<{ n: number }>("SELECT count(*)::int AS n FROM agents WHERE repository = 'acme/widgets'")
    const room = 6 - Number(rows[0]!.n)
    expect(room).toBeGreaterThan(0)
    const results = await Promise.all(
      Array.from({ length: 12 }, (_, i) => call(instances[i % 2]!.url, 'POST', '/api/v1/agents', { token, body: { name: `cap-${i}@acme.example` } }))
    )
    expect(results.filter((r) => r.status === 201)).toHaveLength(room)
    expect(results.filter((r) => r.status === 403 && r.body.error === 'agent_limit_reached')).toHaveLength(12 - room)
  })
})
