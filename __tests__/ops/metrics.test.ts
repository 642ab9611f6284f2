/**
 * /metrics: Prometheus text format; exchanges, federations, registrations and denials by
 * reason counted from real requests; a latency histogram; the PostgreSQL pool's state.
 */
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals'
import { buildServer } from '../../shared/server/app'
import { loadConfig } from '../../shared/server/config'
import { createContext } from '../../shared/server/context'
import { LATENCY_BUCKETS, Metrics } from '../../shared/server/metrics'
import { openDatabase } from '../../shared/server/store/open'
import { startPostgres, type TestPostgres } from '../../shared/testing/postgres'
import { ACME, client, startTestServer, type TestServer } from '../server/helpers'

jest.setTimeout(60_000)

/** sample name + labels -> value, from the exposition text. */
function samples(text: string): Map<string, number> {
  const out = new Map<string, number>()
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*(?:\{.*\})?) (\S+)$/.exec(line)
    if (!match) throw new Error(`not an exposition line: ${line}`)
    out.set(match[1]!, Number(match[2]))
  }
  return out
}

describe('/metrics on the embedded database', () => {
  let server: TestServer
  let api: ReturnType<typeof client>

  beforeAll(async () => {
    server = await startTestServer()
    api = client(server)
    await api.policy({ repository: 'acme/widgets', branch: 'main' })
  })
  afterAll(async () => server?.close())

  it('counts exchanges by scope, federations, registrations and denials by reason', async () => {
    const bootstrap = await api.bootstrap()
    const agent = await api.api('POST', '/api/v1/agents', { token: bootstrap, body: { name: 'm@acme.example' } })
    await api.api('POST', '/api/v1/agents', { token: bootstrap, body: { name: 'm@acme.example' } })
    await api.policy({ repository: 'acme/widgets', agentId: agent.body.agentId })
    expect((await api.exchange(ACME, { agentId: agent.body.agentId })).status).toBe(200)
    expect((await api.exchange({ ...ACME, ref: 'refs/heads/dev' })).status).toBe(403)
    expect((await api.exchange({ repository: 'evil/x', repositoryId: '1', ownerId: '1' })).status).toBe(403)
    expect((await api.exchange({ repository: 'evil/x', repositoryId: '1', ownerId: '1' })).status).toBe(403)
    expect((await api.federate()).status).toBe(201)
    expect((await api.federate()).status).toBe(200)
    expect((await api.federate(ACME, 'wrong-audience')).status).toBe(401)
    expect((await api.api('GET', '/api/v1/audit', { token: 'wrong-admin-token-000000' })).status).toBe(401)

    const res = await api.api('GET', '/metrics')
    expect(res.status).toBe(200)
    expect(res.headers.get('content-type')).toBe('text/plain; version=0.0.4; charset=utf-8')
    const m = samples(res.text)
    expect(m.get('federate_exchanges_total{scope="agents:write"}')).toBe(1)
    expect(m.get('federate_exchanges_total{scope="agent"}')).toBe(1)
    expect(m.get('federate_registrations_total{created="true"}')).toBe(1)
    expect(m.get('federate_registrations_total{created="false"}')).toBe(1)
    expect(m.get('federate_federations_total{created="true"}')).toBe(1)
    expect(m.get('federate_federations_total{created="false"}')).toBe(1)
    expect(m.get('federate_denials_total{endpoint="POST /api/v1/oidc/token",reason="trust_policy_violation"}')).toBe(2)
    expect(m.get('federate_denials_total{endpoint="POST /api/v1/oidc/token",reason="branch_not_permitted"}')).toBe(1)
    expect(m.get('federate_denials_total{endpoint="POST /v1/identity/federate",reason="invalid_token"}')).toBe(1)
    expect(m.get('federate_denials_total{endpoint="GET /api/v1/audit",reason="invalid_token"}')).toBe(1)
    expect(m.get('federate_http_requests_total{route="/api/v1/oidc/token",method="POST",status="403"}')).toBe(3)
    // The histogram: cumulative buckets ending in +Inf = count.
    const exchanges = 'federate_http_request_duration_seconds'
    const labels = 'route="/api/v1/oidc/token",method="POST"'
    const buckets = LATENCY_BUCKETS.map((le) => m.get(`${exchanges}_bucket{${labels},le="${le}"}`)!)
    for (let i = 1; i < buckets.length; i++) expect(buckets[i]).toBeGreaterThanOrEqual(buckets[i - 1]!)
    expect(m.get(`${exchanges}_bucket{${labels},le="+Inf"}`)).toBe(5)
    expect(m.get(`${exchanges}_count{${labels}}`)).toBe(5)
    expect(m.get(`${exchanges}_sum{${labels}}`)).toBeGreaterThan(0)
    expect(m.get('federate_db_info{driver="pglite"}')).toBe(1)
    // No repository names or identities in the labels.
    expect(res.text).not.toContain('acme/widgets')
    expect(res.text).not.toContain(agent.body.agentId)
  })

  it('counts workspace requests by endpoint and outcome, statements and rows, all workspaces together; sessions open', async () => {
    const before = samples((await api.api('GET', '/metrics')).text)
    expect(before.get('federate_workspace_statements_total')).toBe(0)
    expect(before.get('federate_workspace_sessions_open')).toBeGreaterThanOrEqual(0)
    const federated = await api.federate({ repository: 'metrics/ws', repositoryId: '7070', ownerId: '7' })
    expect(federated.status).toBe(201)
    const { token, url } = federated.body.data as { token: string; url: string }
    const path = new URL(url).pathname
    expect((await api.api('GET', path, { token })).status).toBe(200)
    expect((await api.api('GET', path)).status).toBe(401)
    const batch = await api.api('POST', `${path}/batch`, {
      token,
      body: { statements: [{ sql: 'CREATE TABLE t (n int)' }, { sql: 'INSERT INTO t VALUES (1), (2)' }, { sql: 'SELECT n FROM t' }] }
    })
    expect(batch.status).toBe(200)
    expect((await api.api('POST', `${path}/query`, { token, body: { sql: 'SELECT nope' } })).status).toBe(400)
    expect((await api.api('GET', `${path}/tables`, { token })).status).toBe(200)

    const res = await api.api('GET', '/metrics')
    const m = samples(res.text)
    expect(m.get('federate_workspace_requests_total{endpoint="info",outcome="ok"}')).toBe(1)
    expect(m.get('federate_workspace_requests_total{endpoint="info",outcome="invalid_token"}')).toBe(1)
    expect(m.get('federate_workspace_requests_total{endpoint="batch",outcome="ok"}')).toBe(1)
    expect(m.get('federate_workspace_requests_total{endpoint="query",outcome="sql_error"}')).toBe(1)
    expect(m.get('federate_workspace_requests_total{endpoint="tables",outcome="ok"}')).toBe(1)
    expect(m.get('federate_workspace_statements_total')).toBe(3)
    expect(m.get('federate_workspace_rows_written_total')).toBe(2)
    expect(m.get('federate_workspace_rows_read_total')).toBe(2)
    expect(m.get('federate_workspace_sessions_open')).toBeGreaterThanOrEqual(1)
    expect(res.text).toContain('# TYPE federate_workspace_sessions_open gauge')
    // No namespace or repository in the labels.
    expect(res.text).not.toContain('metrics/ws')
    expect(res.text).not.toContain((federated.body.data as { namespace: string }).namespace)
  })

  it('does not count its own scrapes', async () => {
    await api.api('GET', '/metrics')
    const m = samples((await api.api('GET', '/metrics')).text)
    expect([...m.keys()].some((k) => k.includes('route="/metrics"'))).toBe(false)
  })
})

describe('Metrics exposition', () => {
  it('escapes label values and keeps HELP/TYPE for every family', () => {
    const metrics = new Metrics()
    metrics.inc('federate_denials_total', { endpoint: 'POST /x', reason: 'a"b\\c\nd' })
    const text = metrics.render()
    expect(text).toContain('federate_denials_total{endpoint="POST /x",reason="a\\"b\\\\c\\nd"} 1')
    expect(text).toContain('# TYPE federate_denials_total counter')
    expect(text).toContain('# TYPE federate_http_request_duration_seconds histogram')
  })
})

describe('/metrics on PostgreSQL', () => {
  let pg: TestPostgres
  beforeAll(async () => {
    pg = await startPostgres()
  })
  afterAll(async () => pg?.stop())

  it('shows the connection pool: total, idle, waiting and its size', async () => {
    const config = loadConfig({ ADMIN_TOKEN: 'metrics-test-admin-token', OIDC_ISSUERS: 'http://127.0.0.1:9', DATABASE_URL: pg.url })
    const db = await openDatabase({ databaseUrl: pg.url })
    const app = await buildServer(await createContext({ config, db }))
    try {
      // Real HTTP (light-my-request's inject does not load under jest's ESM mode).
      await app.listen({ port: 0, host: '127.0.0.1' })
      const base = `http://127.0.0.1:${(app.server.address() as { port: number }).port}`
      await Promise.all([1, 2, 3].map(() => fetch(`${base}/healthz`).then((r) => r.text())))
      const m = samples(await (await fetch(`${base}/metrics`)).text())
      expect(m.get('federate_db_info{driver="postgres"}')).toBe(1)
      expect(m.get('federate_db_pool_connections{state="max"}')).toBe(10)
      expect(m.get('federate_db_pool_connections{state="total"}')).toBeGreaterThanOrEqual(1)
      expect(m.get('federate_db_pool_connections{state="idle"}')).toBeLessThanOrEqual(m.get('federate_db_pool_connections{state="total"}')!)
      expect(m.get('federate_db_pool_connections{state="waiting"}')).toBe(0)
    } finally {
      await app.close()
      await db.close()
    }
  })
})
