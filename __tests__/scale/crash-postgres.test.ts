/**
 * kill -9 of one of three instances on one PostgreSQL in the middle of a load of federations,
 * exchanges and registrations, three times (each instance once): every 2xx is in the
 * database, nothing is half-created, the instance restarts healthy and serves what the others
 * issued and what it issued itself before it died.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals'
import { admin, call, Cluster, repo } from './cluster'
import { checkConsistency, emptyAcked, type Acked } from './consistency'
import { UNLIMITED_REGISTRATIONS, startLoad, untilAcknowledged } from './load'

describe('crash safety on PostgreSQL (3 instances)', () => {
  let cluster: Cluster
  const acked: Acked = emptyAcked()
  const agentsRepo = repo('crash-agents')

  beforeAll(async () => {
    cluster = await Cluster.start({ env: { RATE_LIMIT_BURST: '1000000', RATE_LIMIT_PER_MINUTE: '1000000', ...UNLIMITED_REGISTRATIONS } })
    const res = await admin(cluster.instances[0]!.url, 'POST', '/api/v1/oidc/trust-policies', { provider: 'github', repository: agentsRepo.repository })
    expect(res.status).toBe(201)
  }, 90_000)
  afterAll(async () => {
    await cluster?.stop()
  })

  const query = async (sql: string, params?: unknown[]) => (await cluster.db.query(sql, params)).rows as Array<Record<string, unknown>>

  for (const victim of [0, 1, 2]) {
    it(`kill -9 of instance ${victim} under load: acknowledged writes kept, nothing half-created, healthy again`, async () => {
      const jwksBefore = (await call(cluster.instances[2]!.url, 'GET', '/.well-known/jwks.json')).body
      const load = startLoad(
        {
          urls: () => cluster.instances.map((i) => i.url),
          mint: (identity, audience) => cluster.mint(identity, audience),
          agentsRepo,
          freshRepo: () => repo('crash-ws')
        },
        acked,
        9
      )
      await untilAcknowledged(load.stats, 40)
      await cluster.kill(victim)
      // The load goes on with one instance dead: the other two acknowledge 20 more writes.
      const atKill = load.stats.ok
      await untilAcknowledged(load.stats, atKill + 20)
      const stats = await load.stop()
      expect(stats.ok).toBeGreaterThanOrEqual(40)
      expect(stats.ok).toBeGreaterThanOrEqual(atKill + 20)
      // Only the dead instance failed, and only by not answering: no 5xx from the living.
      expect(stats.other).toEqual({})
      if (process.env.SCALE_VERBOSE)
        console.log(
          `kill -9 under load: ${JSON.stringify(stats)}; acknowledged so far ${acked.workspaces.length} federations, ${acked.credentials.length} exchanges, ${acked.agents.length} registrations`
        )

      await cluster.restart(victim)
      const restarted = cluster.instances[victim]!.url

      const report = await checkConsistency(query, acked)
      expect(report.missing).toEqual([])
      expect(report.halfCreated).toEqual([])
      expect(report.counts.workspaces).toBeGreaterThanOrEqual(acked.workspaces.length)

      expect((await call(restarted, 'GET', '/healthz')).status).toBe(200)
      expect((await call(restarted, 'GET', '/.well-known/jwks.json')).body).toEqual(jwksBefore)
      // The restarted instance serves what was acknowledged before the kill.
      const last = acked.workspaces[acked.workspaces.length - 1]!
      const again = await call(restarted, 'POST', '/v1/identity/federate', {
        token: await cluster.mint({ repository: `scale/any-${last.repositoryId}`, repositoryId: last.repositoryId, ownerId: '7777' }, 'federate')
      })
      expect(again.status).toBe(200)
      expect(again.body.data.namespace).toBe(last.namespace)
      const agent = acked.agents[acked.agents.length - 1]!
      expect((await admin(restarted, 'GET', `/api/v1/agents/${agent.agentId}`)).status).toBe(200)
    }, 60_000)
  }
})
