/**
 * Nothing acknowledged is lost: workspace rows survive a restart and a kill -9 of the server
 * process (embedded mode, the one whose storage the server itself writes), and in PostgreSQL
 * mode several server instances serve the same workspaces.
 */
import { afterAll, beforeAll, expect, it } from '@jest/globals'
import { describeStartsProcess } from '../tiers'
import { call } from '../../shared/testing/api-call'
import { githubClaims, LocalOidcIssuer, type RepoIdentity } from '../../shared/testing/oidc-issuer'
import { startPostgres, type TestPostgres } from '../../shared/testing/postgres'
import { startServerProcess, type ServerProcess } from '../../shared/testing/server-process'
import { startTestServer, type TestServer } from '../server/helpers'
import { federated, workspaceClient, workspaceIdentity, type WorkspaceClient } from './harness'

async function federateOn(url: string, issuer: LocalOidcIssuer, identity: RepoIdentity): Promise<WorkspaceClient> {
  const token = await issuer.mint({ audience: 'persql', claims: githubClaims(identity) })
  const res = await call(url, 'POST', '/v1/identity/federate', { token })
  if (res.status !== 200 && res.status !== 201) throw new Error(`federate failed: ${res.status} ${res.text}`)
  return workspaceClient(res.body.data.url as string, res.body.data.token as string, res.body.data.namespace as string, identity.repository)
}

describeStartsProcess('embedded workspaces across restarts and kill -9', () => {
  let issuer: LocalOidcIssuer
  let server: ServerProcess | undefined
  const identity = workspaceIdentity('durable')

  beforeAll(async () => {
    issuer = await LocalOidcIssuer.start()
  })
  afterAll(async () => {
    await server?.stop()
    await issuer?.close()
  })

  it('keeps every acknowledged write when the server is killed mid-stream, and after a clean restart', async () => {
    server = await startServerProcess({ issuerUrl: issuer.url })
    const dataDir = server.dataDir
    let ws = await federateOn(server.url, issuer, identity)
    expect((await ws.query('CREATE TABLE events (id int PRIMARY KEY, body text)')).status).toBe(200)

    // Writers insert one row per request; the server is killed while they run.
    const acknowledged: number[] = []
    let next = 0
    let killed = false
    const writer = async (): Promise<void> => {
      while (!killed) {
        const id = next++
        try {
          const res = await ws.query('INSERT INTO events VALUES ($1, $2)', [id, `event ${id}`])
          if (res.status === 200) acknowledged.push(id)
        } catch {
          return // the connection died with the server
        }
      }
    }
    const writers = Array.from({ length: 4 }, writer)
    while (acknowledged.length < 60) await new Promise((resolve) => setTimeout(resolve, 10))
    killed = true
    server.kill('SIGKILL')
    await server.exited
    await Promise.all(writers)
    expect(acknowledged.length).toBeGreaterThanOrEqual(60)

    server = await startServerProcess({ issuerUrl: issuer.url, dataDir })
    ws = await federateOn(server.url, issuer, identity)
    const after = await ws.query('SELECT id FROM events ORDER BY id')
    expect(after.status).toBe(200)
    const stored = new Set((after.body.data.rows as number[][]).map((row) => row[0]))
    expect(acknowledged.filter((id) => !stored.has(id))).toEqual([])

    // A clean stop and start keeps them too, and the workspace takes writes again.
    expect((await ws.query("INSERT INTO events VALUES (100000, 'after the crash')")).status).toBe(200)
    await server.stop()
    server = await startServerProcess({ issuerUrl: issuer.url, dataDir })
    ws = await federateOn(server.url, issuer, identity)
    const final = await ws.query('SELECT count(*)::int FROM events WHERE id = 100000')
    expect(final.body.data.rows).toEqual([[1]])
  }, 240_000)
})

describeStartsProcess('PostgreSQL mode: two server instances serve the same workspaces', () => {
  let postgres: TestPostgres
  const instances: TestServer[] = []

  beforeAll(async () => {
    postgres = await startPostgres()
    const first = await startTestServer({ DATABASE_URL: postgres.url })
    instances.push(first)
    // The second trusts the first one's issuer too, as two instances behind one balancer would.
    instances.push(await startTestServer({ DATABASE_URL: postgres.url }, { extraIssuers: [first.issuer.url] }))
  }, 120_000)
  afterAll(async () => {
    for (const instance of instances) await instance.close()
    await postgres?.stop()
  })

  it('a workspace written through one instance reads back through the other', async () => {
    const [first, second] = instances as [TestServer, TestServer]
    const identity = workspaceIdentity('shared')
    const ws = await federated(first, identity)
    expect((await ws.query('CREATE TABLE shared (n int)')).status).toBe(200)
    expect((await ws.query('INSERT INTO shared SELECT generate_series(1, 5)')).status).toBe(200)

    // The same token on the other instance's URL opens the same database.
    const other = workspaceClient(ws.url.replace(first.url, second.url), ws.token, ws.namespace, identity.repository)
    const read = await other.query('SELECT sum(n)::int FROM shared')
    expect(read.status).toBe(200)
    expect(read.body.data.rows).toEqual([[15]])
    expect((await other.query('INSERT INTO shared VALUES (100)')).status).toBe(200)
    expect((await ws.query('SELECT max(n)::int FROM shared')).body.data.rows).toEqual([[100]])
  })

  it('concurrent first federations through both instances create one workspace and one database', async () => {
    const [first, second] = instances as [TestServer, TestServer]
    const identity = workspaceIdentity('race')
    const token = await first.issuer.mint({ audience: 'persql', claims: githubClaims(identity) })
    const answers = await Promise.all([first.url, second.url, first.url, second.url].map((url) => call(url, 'POST', '/v1/identity/federate', { token })))
    expect(answers.map((a) => a.status).sort()).toEqual([200, 200, 200, 201])
    const accepted = answers
    expect(new Set(accepted.map((a) => a.body.data.namespace)).size).toBe(1)
    const ws = workspaceClient(accepted[0]!.body.data.url as string, accepted[0]!.body.data.token as string, accepted[0]!.body.data.namespace as string, identity.repository)
    expect((await ws.query('SELECT 1')).status).toBe(200)
  })
})
