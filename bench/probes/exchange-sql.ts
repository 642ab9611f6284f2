// Probe: the SQL of one agent-scoped exchange on the embedded database (or PGURL),
// A = 5 autocommit statements (the first server), B = credential+audit in one transaction (the route since),
// C = proposed (1 read: agent + repository's policies; 1 write: CTE credential+audit+touch).
// Variants interleaved in rounds so machine noise hits all alike. argv: concurrency rounds.
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { randomUUID } from 'node:crypto'
import { openDatabase } from '../../shared/server/store/open'
import { Store } from '../../shared/server/store/store'

const db = await openDatabase(process.env.PGURL ? { databaseUrl: process.env.PGURL } : process.env.MEM ? {} : { dataDir: mkdtempSync(join(tmpdir(), 'xsql-')) })
const store = new Store(db)
const { agent } = await store.agents.register({ issuer: 'https://issuer.test', name: `a${randomUUID()}@b.c`, description: '', repository: 'bench/x', repositoryId: '1' })
await store.policies.create({ provider: 'github', repository: 'bench/x' } as never)
await store.policies.create({ provider: 'github', repository: 'bench/x', agentId: agent.id } as never)
const detail = () => ({
  outcome: 'issued',
  tokenSha256: randomUUID(),
  ref: 'refs/heads/main',
  eventName: 'push',
  jobWorkflowRef: 'bench/x/.github/workflows/ci.yml@refs/heads/main',
  scope: 'agent',
  policyId: randomUUID()
})
const cred = () => ({
  kind: 'agent' as const,
  issuer: 'https://issuer.test',
  agentId: agent.id,
  scope: 'agent',
  repository: 'bench/x',
  repositoryId: '1',
  tokenSha256: randomUUID() + randomUUID(),
  expiresAt: new Date(Date.now() + 900e3)
})

const variants: Record<string, () => Promise<unknown>> = {
  'A 5 autocommit statements': async () => {
    await store.agents.get(agent.id)
    await store.policies.list()
    const c = await store.credentials.create(cred())
    await store.audit.record({ action: 'token.exchange', identityId: agent.id, credentialId: c.id, repository: 'bench/x', repositoryId: '1', detail: detail() })
    await db.query('UPDATE agents SET last_used_at = now() WHERE id = $1', [agent.id])
  },
  'B tx(credential, audit) + 3 autocommit': async () => {
    await store.agents.get(agent.id)
    await store.policies.list()
    await store.transaction(async (tx) => {
      const c = await tx.credentials.create(cred())
      await tx.audit.record({ action: 'token.exchange', identityId: agent.id, credentialId: c.id, repository: 'bench/x', repositoryId: '1', detail: detail() })
    })
    await db.query('UPDATE agents SET last_used_at = now() WHERE id = $1', [agent.id])
  },
  'C proposed: 1 read + 1 CTE write': async () => {
    await db.query(
      `SELECT a.*, (SELECT coalesce(json_agg(p ORDER BY p.created_at, p.id), '[]') FROM trust_policies p WHERE lower(p.repository) = lower($2)) AS policies
         FROM agents a WHERE a.id = $1`,
      [agent.id, 'bench/x']
    )
    const c = cred()
    const now = new Date()
    await db.query(
      `WITH c AS (
         INSERT INTO credentials (id, kind, agent_id, workspace_id, scope, repository, repository_id, token_sha256, created_at, expires_at)
         VALUES ($1, $2, $3, NULL, $4, $5, $6, $7, $8, $9) RETURNING *),
       e AS (
         INSERT INTO audit_events (id, at, action, identity_id, credential_id, workspace_id, repository, repository_id, detail)
         SELECT $10, $8, 'token.exchange', $3, c.id, NULL, $5, $6, $11 FROM c),
       t AS (UPDATE agents SET last_used_at = $8 WHERE id = $3)
       SELECT * FROM c`,
      [randomUUID(), c.kind, c.agentId, c.scope, c.repository, c.repositoryId, c.tokenSha256, now, c.expiresAt, randomUUID(), JSON.stringify(detail())]
    )
  }
}

variants['D read only (C)'] = () =>
  db.query(
    `SELECT a.*, (SELECT coalesce(json_agg(p ORDER BY p.created_at, p.id), '[]') FROM trust_policies p WHERE lower(p.repository) = lower($2)) AS policies FROM agents a WHERE a.id = $1`,
    [agent.id, 'bench/x']
  )
variants['E getAgent only'] = () => store.agents.get(agent.id)
variants['F SELECT 1'] = () => db.query('SELECT 1')
variants['G audit insert only'] = () =>
  store.audit.record({ action: 'token.exchange', identityId: agent.id, credentialId: randomUUID(), repository: 'bench/x', repositoryId: '1', detail: detail() })
const concurrency = Number(process.argv[2] ?? 1)
const rounds = Number(process.argv[3] ?? 5)
const perRound = 300
const results: Record<string, number[]> = {}
for (let r = 0; r < rounds; r++) {
  for (const [name, run] of Object.entries(variants)) {
    const start = performance.now()
    let left = perRound
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        while (left-- > 0) await run()
      })
    )
    if (r > 0) (results[name] ??= []).push(perRound / ((performance.now() - start) / 1000))
  }
}
const median = (v: number[]) => [...v].sort((a, b) => a - b)[v.length >> 1]!
for (const [name, v] of Object.entries(results)) console.log(name.padEnd(42), median(v).toFixed(0), 'exchanges/s (SQL only)', `concurrency ${concurrency}`)
await db.close()
