/**
 * Group commit of issued credentials: concurrent writes share one statement, each caller
 * gets its own row, a bad row fails only its own caller, and nothing is half-written.
 */
import { randomUUID } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals'
import { CredentialBatcher, dollarQuoted, type CredentialWrite } from '../../../shared/server/store/credential-batch'
import type { Db } from '../../../shared/server/store/db'
import { Store } from '../../../shared/server/store/store'
import { openTestDatabase } from '../helpers'

// The embedded database runs a prepared statement, PostgreSQL the plain one; both run here on
// PGlite, the second through a Db that says it is PostgreSQL.
describe.each(['pglite', 'postgres'] as const)('CredentialBatcher (%s path)', (kind) => {
  let db: Db
  let agentId: string
  /** Statements that wrote rows (not the one-time PREPARE), for counting. */
  let statements = 0
  const counting: Db = {
    kind,
    query: (sql, params) => {
      if (!sql.startsWith('PREPARE')) statements++
      return db.query(sql, params)
    },
    transaction: (fn) => db.transaction(fn),
    close: async () => undefined
  }

  beforeAll(async () => {
    db = await openTestDatabase()
    agentId = (
      await new Store(db).agents.register({ issuer: 'https://issuer.test', name: 'batch@agents.example', description: '', repository: 'acme/batch', repositoryId: '77' })
    ).agent.id
  })
  afterAll(() => db.close())

  const write = (overrides: Partial<CredentialWrite['credential']> = {}): CredentialWrite => ({
    credential: {
      id: randomUUID(),
      kind: 'agent',
      issuer: 'https://issuer.test',
      agentId,
      workspaceId: null,
      scope: 'agent',
      repository: 'acme/batch',
      repositoryId: '77',
      tokenSha256: randomUUID(),
      createdAt: new Date('2026-05-01T10:00:00Z'),
      expiresAt: new Date('2026-05-01T10:15:00Z'),
      ...overrides
    },
    audit: {
      id: randomUUID(),
      action: 'token.exchange',
      identityId: agentId,
      workspaceId: null,
      repository: 'acme/batch',
      repositoryId: '77',
      detail: { outcome: 'issued', n: 1 }
    },
    touchAgentId: agentId
  })

  async function auditCount(credentialIds: string[]): Promise<number> {
    const { rows } = await db.query<{ n: number }>('SELECT count(*)::int AS n FROM audit_events WHERE credential_id = ANY($1::uuid[])', [credentialIds])
    return rows[0]!.n
  }

  it('writes concurrent issuances in one statement, every row stored as written', async () => {
    const batcher = new CredentialBatcher(counting)
    statements = 0
    const writes = Array.from({ length: 40 }, () => write())
    await Promise.all(writes.map((w) => batcher.write(w)))
    expect(statements).toBe(1)
    const { rows } = await db.query<{ id: string; token_sha256: string; kind: string }>(
      'SELECT id, token_sha256, kind FROM credentials WHERE id = ANY($1::uuid[]) ORDER BY seq',
      [writes.map((w) => w.credential.id)]
    )
    expect(rows.map((r) => [r.id, r.token_sha256, r.kind])).toEqual(writes.map((w) => [w.credential.id, w.credential.tokenSha256, 'agent']))
    expect(await auditCount(writes.map((w) => w.credential.id))).toBe(40)
    const { rows: agent } = await db.query<{ last_used_at: Date }>('SELECT last_used_at FROM agents WHERE id = $1', [agentId])
    expect(new Date(agent[0]!.last_used_at).toISOString()).toBe('2026-05-01T10:00:00.000Z')
  })

  it('splits more than maxBatch rows over several statements', async () => {
    const batcher = new CredentialBatcher(counting, 8)
    statements = 0
    const writes = Array.from({ length: 20 }, () => write())
    await Promise.all(writes.map((w) => batcher.write(w)))
    expect(statements).toBe(3)
    expect(await auditCount(writes.map((w) => w.credential.id))).toBe(20)
  })

  it('fails only the bad row of a batch; the others are stored with their audit events', async () => {
    const batcher = new CredentialBatcher(counting)
    const taken = write()
    await batcher.write(taken)
    // Same token hash as a stored credential: the unique index refuses this row.
    const writes = [write(), write({ tokenSha256: taken.credential.tokenSha256 }), write()]
    const results = await Promise.allSettled(writes.map((w) => batcher.write(w)))
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled'])
    expect(await auditCount([writes[0]!.credential.id, writes[2]!.credential.id])).toBe(2)
    expect(await auditCount([writes[1]!.credential.id])).toBe(0)
    const { rows } = await db.query('SELECT id FROM credentials WHERE id = $1', [writes[1]!.credential.id])
    expect(rows).toHaveLength(0)
  })

  it('keeps writing after a failed batch, and writes that arrive during a write go in the next one', async () => {
    const batcher = new CredentialBatcher(counting)
    statements = 0
    const first = batcher.write(write())
    await new Promise((resolve) => setImmediate(resolve)) // the first statement is now running
    const later = Array.from({ length: 5 }, () => batcher.write(write()))
    await Promise.all([first, ...later])
    expect(statements).toBe(2)
  })

  it('stores audit details exactly, whatever characters they hold', async () => {
    const batcher = new CredentialBatcher(counting)
    const detail = { reason: 'it\'s $$ a \\ "test" $q0123456789abcdef$ ünïcödé 🚀 \n end', nested: { list: [1, null, true] } }
    const w = write()
    w.audit.detail = detail
    await batcher.write(w)
    const { rows } = await db.query<{ detail: unknown }>('SELECT detail FROM audit_events WHERE credential_id = $1', [w.credential.id])
    expect(typeof rows[0]!.detail === 'string' ? JSON.parse(rows[0]!.detail) : rows[0]!.detail).toEqual(detail)
  })

  it('refuses a batch size below 1', () => {
    expect(() => new CredentialBatcher(counting, 0)).toThrow(RangeError)
  })
})

describe('dollarQuoted', () => {
  let db: Db
  beforeAll(async () => {
    db = await openTestDatabase()
  })
  afterAll(() => db.close())

  it('gives PostgreSQL back exactly the text, including dollar signs, quotes and tag look-alikes', async () => {
    const texts = ['', "'; DROP TABLE credentials; --", '$$', '$q$', 'a $q0011223344556677$ b', '\\x00 \\', 'ünï 🚀 \n\t']
    for (const text of texts) {
      const { rows } = await db.query<{ t: string }>(`SELECT ${dollarQuoted(text)}::text AS t`)
      expect(rows[0]!.t).toBe(text)
    }
  })

  it('never uses a tag that occurs in the text', () => {
    const quoted = dollarQuoted('x')
    const tag = quoted.slice(0, quoted.indexOf('x'))
    expect(quoted).toBe(`${tag}x${tag}`)
    expect(tag).toMatch(/^\$q[0-9a-f]{16}\$$/)
  })
})
