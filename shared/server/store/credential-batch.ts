/**
 * Group commit for issued credentials. Every exchange writes a credential row and its audit
 * event; written one statement per request, the database's per-statement cost (parse, plan,
 * commit: in PGlite, all of it WASM) caps the server long before the crypto does
 * (bench/ANALYSIS.md measured it; docs/hot-path.md).
 * Requests that arrive while a write is in flight wait for the next one, and that next
 * write inserts all of them in one statement. The statement is atomic, and each request
 * answers only after its batch committed, so what a client is told was issued is stored.
 */
import { randomBytes } from 'node:crypto'
import { BatchQueue } from './batch-queue'
import type { Db, Queryable } from './db'

/** One issuance, already in column form. */
export interface CredentialWrite {
  credential: {
    id: string
    kind: string
    issuer: string
    agentId: string | null
    workspaceId: string | null
    scope: string
    repository: string
    repositoryId: string
    tokenSha256: string | null
    createdAt: Date
    expiresAt: Date
  }
  audit: {
    id: string
    action: string
    identityId: string | null
    workspaceId: string | null
    repository: string | null
    repositoryId: string | null
    detail: Record<string, unknown>
  }
  /** Agent whose last use to record (to the minute), if any. */
  touchAgentId: string | null
}

/**
 * Inserts the batch's credentials and audit events and records the agents' last use.
 * Input as one JSON parameter, so the statement text is the same for any batch size.
 */
const INSERT_BATCH = `
WITH input AS (
  SELECT * FROM jsonb_to_recordset($1::jsonb) AS x(
    id uuid, kind text, issuer text, agent_id uuid, workspace_id uuid, scope text, repository text, repository_id text,
    token_sha256 text, created_at timestamptz, expires_at timestamptz,
    audit_id uuid, audit_action text, audit_identity_id uuid, audit_workspace_id uuid, audit_repository text,
    audit_repository_id text, audit_detail jsonb, touch_agent_id uuid)
), c AS (
  INSERT INTO credentials (id, kind, issuer, agent_id, workspace_id, scope, repository, repository_id, token_sha256, created_at, expires_at)
  SELECT id, kind, issuer, agent_id, workspace_id, scope, repository, repository_id, token_sha256, created_at, expires_at FROM input
  RETURNING id
), a AS (
  INSERT INTO audit_events (id, at, action, identity_id, credential_id, workspace_id, repository, repository_id, detail)
  SELECT i.audit_id, i.created_at, i.audit_action, i.audit_identity_id, c.id, i.audit_workspace_id, i.audit_repository,
    i.audit_repository_id, i.audit_detail
  FROM input i JOIN c ON c.id = i.id
), t AS (
  -- last use to the minute: a busy agent's row is not rewritten (and locked) by every exchange
  UPDATE agents SET last_used_at = u.at
  FROM (SELECT touch_agent_id AS id, max(created_at) AS at FROM input WHERE touch_agent_id IS NOT NULL GROUP BY touch_agent_id) u
  WHERE agents.id = u.id AND (agents.last_used_at IS NULL OR agents.last_used_at < u.at - interval '60 seconds')
)
SELECT id FROM c`

function toInput({ credential: c, audit: a, touchAgentId }: CredentialWrite): Record<string, unknown> {
  return {
    id: c.id,
    kind: c.kind,
    issuer: c.issuer,
    agent_id: c.agentId,
    workspace_id: c.workspaceId,
    scope: c.scope,
    repository: c.repository,
    repository_id: c.repositoryId,
    token_sha256: c.tokenSha256,
    created_at: c.createdAt.toISOString(),
    expires_at: c.expiresAt.toISOString(),
    audit_id: a.id,
    audit_action: a.action,
    audit_identity_id: a.identityId,
    audit_workspace_id: a.workspaceId,
    audit_repository: a.repository,
    audit_repository_id: a.repositoryId,
    audit_detail: a.detail,
    touch_agent_id: touchAgentId
  }
}

/** Concurrent credential writes, one statement per batch. */
export class CredentialBatcher {
  private readonly queue: BatchQueue<CredentialWrite, void>

  /** @param db where batches go (never a transaction: a batch mixes unrelated requests) */
  constructor(db: Db, maxBatch?: number) {
    const prepared = db.kind === 'pglite'
    this.queue = new BatchQueue<CredentialWrite, void>(async (writes) => {
      await insertCredentials(db, writes, { prepared })
      return writes.map(() => undefined)
    }, maxBatch)
  }

  /** Resolves once the write's batch has committed. */
  write(write: CredentialWrite): Promise<void> {
    return this.queue.add(write)
  }
}

const PREPARED_NAME = 'federate_insert_credentials'

/** Per database session: a second PREPARE of the same name would fail. */
const prepared = new WeakMap<Queryable, Promise<void>>()

function prepareOnce(db: Queryable): Promise<void> {
  let done = prepared.get(db)
  if (!done) {
    done = db.query(`PREPARE ${PREPARED_NAME}(jsonb) AS ${INSERT_BATCH.replace('$1::jsonb', '$1')}`).then(
      () => undefined,
      (error: unknown) => {
        if ((error as { code?: string }).code === '42P05') return // duplicate_prepared_statement: there already
        prepared.delete(db) // try again with the next batch
        throw error
      }
    )
    prepared.set(db, done)
  }
  return done
}

/** `text` as a PostgreSQL dollar-quoted literal whose tag does not occur in it. */
export function dollarQuoted(text: string): string {
  let tag: string
  do tag = `$q${randomBytes(8).toString('hex')}$`
  while (text.includes(tag))
  return `${tag}${text}${tag}`
}

/**
 * Writes credentials with their audit events (and agents' last use) in one statement,
 * atomic by itself; inside a transaction it joins it. The rows are what the writes say, so
 * only their ids come back (result rows cost parsing on both sides).
 *
 * `prepared` (the embedded database, outside transactions): the statement is prepared once.
 * PGlite parses and plans every statement `query()` is given, which for this one costs as much
 * as the rows of a small batch (bench/ANALYSIS.md, also against plain bind parameters).
 * EXECUTE takes no bind parameters, so the batch goes in as a dollar-quoted literal: no
 * escapes apply inside one, and its tag is chosen so that it does not occur in the text, so
 * the text arrives exactly as written.
 */
export async function insertCredentials(db: Queryable, writes: CredentialWrite[], options: { prepared?: boolean } = {}): Promise<void> {
  const batch = JSON.stringify(writes.map(toInput))
  let stored: number
  if (options.prepared) {
    await prepareOnce(db)
    stored = (await db.query(`EXECUTE ${PREPARED_NAME}(${dollarQuoted(batch)})`)).rows.length
  } else {
    stored = (await db.query(INSERT_BATCH, [batch])).rows.length
  }
  if (stored !== writes.length) throw new Error(`credential batch stored ${stored} of ${writes.length} rows`)
}
