// Probe: what the per-exchange index writes cost on the embedded database. Three data dirs,
// the batch insert of the exchange (insertCredentials, prepared, batches of 8 agent tokens) in
// alternated rounds: A as migrated; B with credentials.token_sha256's unique index made partial
// (agent tokens have none, so it is not written for them); C = B without audit_events_at.
// argv: rounds (default 8), batches per round (default 250). Prints µs per exchange (median).
import { randomUUID } from 'node:crypto'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { insertCredentials, type CredentialWrite } from '../../shared/server/store/credential-batch'
import { openDatabase } from '../../shared/server/store/open'
import { Store } from '../../shared/server/store/store'
import { median } from '../lib/stats'

const rounds = Number(process.argv[2] ?? 8)
const batches = Number(process.argv[3] ?? 250)
const BATCH = 8
const PARTIAL = [
  'ALTER TABLE credentials DROP CONSTRAINT credentials_token_sha256_key',
  'CREATE UNIQUE INDEX credentials_token_sha256 ON credentials (token_sha256) WHERE token_sha256 IS NOT NULL'
]
const variants = {
  'A as migrated': [] as string[],
  'B token_sha256 index partial': PARTIAL,
  'C B, no audit_events_at': [...PARTIAL, 'DROP INDEX audit_events_at']
}

const setups = await Promise.all(
  Object.entries(variants).map(async ([name, changes]) => {
    const db = await openDatabase({ dataDir: mkdtempSync(join(tmpdir(), 'index-cost-')) })
    for (const sql of changes) await db.query(sql)
    const store = new Store(db)
    const { agent } = await store.agents.register({ issuer: 'https://issuer.test', name: `a${randomUUID()}@b.c`, description: '', repository: 'bench/x', repositoryId: '1' })
    return { name, db, agentId: agent.id, us: [] as number[] }
  })
)

const write = (agentId: string): CredentialWrite => {
  const now = new Date()
  return {
    credential: {
      id: randomUUID(),
      kind: 'agent',
      issuer: 'https://issuer.test',
      agentId,
      workspaceId: null,
      scope: 'agent',
      repository: 'bench/x',
      repositoryId: '1',
      tokenSha256: null,
      createdAt: now,
      expiresAt: new Date(now.getTime() + 900e3)
    },
    audit: {
      id: randomUUID(),
      action: 'token.exchange',
      identityId: agentId,
      workspaceId: null,
      repository: 'bench/x',
      repositoryId: '1',
      detail: { outcome: 'issued', ref: 'refs/heads/main', scope: 'agent', policyId: randomUUID() }
    },
    touchAgentId: agentId
  }
}

for (let r = 0; r < rounds; r++) {
  for (const setup of setups) {
    const start = process.cpuUsage()
    for (let b = 0; b < batches; b++) {
      await insertCredentials(
        setup.db,
        Array.from({ length: BATCH }, () => write(setup.agentId)),
        { prepared: true }
      )
    }
    const used = process.cpuUsage(start)
    if (r > 0) setup.us.push((used.user + used.system) / (batches * BATCH)) // round 0 warms up
  }
}
for (const setup of setups) {
  console.log(`${setup.name}: ${median(setup.us).toFixed(1)} µs CPU per exchange (rounds: ${setup.us.map((u) => u.toFixed(0)).join(', ')})`)
  await setup.db.close()
}
