/**
 * kill -9 of a server on the embedded database (PGlite in DATA_DIR) in the middle of a load,
 * twice: the data directory opens again cold, every 2xx is in it, nothing is half-created,
 * and the server restarts on it healthy, keeping its keys, workspaces and agents.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { openPglite } from '../../shared/server/store/pglite'
import { githubClaims, LocalOidcIssuer } from '../../shared/testing/oidc-issuer'
import { freePort } from '../../shared/testing/ports'
import { startServerProcess, type ServerProcess } from '../../shared/testing/server-process'
import { ADMIN_TOKEN, admin, call, repo } from './cluster'
import { checkConsistency, emptyAcked, type Acked } from './consistency'
import { UNLIMITED_REGISTRATIONS, startLoad, untilAcknowledged } from './load'

describe('crash safety on the embedded database', () => {
  let issuer: LocalOidcIssuer
  let dataDir: string
  let server: ServerProcess | undefined
  let url: string
  const acked: Acked = emptyAcked()
  const agentsRepo = repo('pglite-agents')

  // Same port and origin on every start: the tokens issued before a crash stay valid after.
  const start = async (): Promise<void> => {
    server = await startServerProcess({
      issuerUrl: issuer.url,
      dataDir,
      env: { ADMIN_TOKEN, PORT: new URL(url).port, PUBLIC_URL: url, RATE_LIMIT_BURST: '1000000', RATE_LIMIT_PER_MINUTE: '1000000', ...UNLIMITED_REGISTRATIONS }
    })
  }

  beforeAll(async () => {
    issuer = await LocalOidcIssuer.start()
    dataDir = mkdtempSync(join(tmpdir(), 'federate-crash-pglite-'))
    url = `http://127.0.0.1:${await freePort()}`
    await start()
    expect((await admin(url, 'POST', '/api/v1/oidc/trust-policies', { provider: 'github', repository: agentsRepo.repository })).status).toBe(201)
  }, 90_000)
  afterAll(async () => {
    await server?.stop()
    await issuer?.close()
    rmSync(dataDir, { recursive: true, force: true })
  })

  for (const round of [1, 2]) {
    it(`kill -9 #${round} under load: the data directory reopens with every acknowledged write, nothing half-created`, async () => {
      const jwksBefore = (await call(url, 'GET', '/.well-known/jwks.json')).body
      const load = startLoad(
        {
          urls: () => [url],
          mint: (identity, audience) => issuer.mint({ audience: audience === 'agents' ? url : 'persql', claims: githubClaims(identity) }),
          agentsRepo,
          freshRepo: () => repo('pglite-ws')
        },
        acked,
        6
      )
      await untilAcknowledged(load.stats, 20)
      server!.kill('SIGKILL')
      await server!.exited
      const stats = await load.stop()
      expect(stats.ok).toBeGreaterThanOrEqual(20)
      expect(stats.other).toEqual({})
      if (process.env.SCALE_VERBOSE)
        console.log(
          `kill -9 under load: ${JSON.stringify(stats)}; acknowledged so far ${acked.workspaces.length} federations, ${acked.credentials.length} exchanges, ${acked.agents.length} registrations`
        )

      // Cold open of what the killed process left on disk, before any server touches it.
      const db = await openPglite(dataDir)
      let report
      try {
        report = await checkConsistency(async (sql, params) => (await db.query(sql, params)).rows, acked)
      } finally {
        await db.close()
      }
      expect(report.missing).toEqual([])
      expect(report.halfCreated).toEqual([])

      await server!.stop()
      await start()
      expect((await call(url, 'GET', '/healthz')).status).toBe(200)
      expect((await call(url, 'GET', '/.well-known/jwks.json')).body).toEqual(jwksBefore)
      const last = acked.workspaces[acked.workspaces.length - 1]!
      const again = await call(url, 'POST', '/v1/identity/federate', {
        token: await issuer.mint({
          audience: 'persql',
          claims: githubClaims({ repository: `scale/any-${last.repositoryId}`, repositoryId: last.repositoryId, ownerId: '7777' })
        })
      })
      expect(again.status).toBe(200)
      expect(again.body.data.namespace).toBe(last.namespace)
      const agent = acked.agents[acked.agents.length - 1]!
      expect((await admin(url, 'GET', `/api/v1/agents/${agent.agentId}`)).status).toBe(200)
    }, 90_000)
  }
})
