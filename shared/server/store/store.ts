/**
 * The unit of work: one repository per aggregate (signing keys, policies, agents,
 * credentials, workspaces, audit, idempotency keys) over one database, and `transaction()`
 * to run several of their statements atomically. The SQL lives in the repositories (and in
 * migrations.ts, credential-batch.ts and rate-limit-buckets.ts); nothing here stores a
 * usable secret.
 */
import { AsyncLocalStorage } from 'node:async_hooks'
import { AgentRepository } from './agents'
import { AuditRepository } from './audit'
import { CredentialBatcher } from './credential-batch'
import { CredentialRepository } from './credentials'
import type { Db, Queryable } from './db'
import { ExchangeInputsCache } from './exchange-cache'
import { ExchangeInputsReader } from './exchange-inputs'
import { IdempotencyKeyRepository } from './idempotency-keys'
import { OAuthClientRepository } from './oauth-clients'
import { PolicyRepository } from './policies'
import { SigningKeyRepository } from './signing-keys'
import { WorkspaceRepository } from './workspaces'

export type { Agent, AgentStatus } from './agents'
export { denied, succeeded } from './audit'
export type { AuditAction, AuditEvent, AuditInput, AuditOutcome } from './audit'
export type { Credential, CredentialKind, NewCredential } from './credentials'
export type { IdempotentResponse } from './idempotency-keys'
export type { OAuthClient } from './oauth-clients'
export type { StoredPolicy } from './policies'
export type { SigningKeyRow } from './signing-keys'
export type { Workspace } from './workspaces'
export type { Db, Queryable }

/** Thrown when a statement goes to the outer store while a transaction of it runs in the same flow. */
export class OuterStoreInTransactionError extends Error {
  constructor() {
    super(
      'a statement was sent to the outer store inside one of its transactions: use the store the transaction callback receives (on the embedded database this would wait for the transaction forever; on PostgreSQL it would not be part of it)'
    )
    this.name = this.constructor.name
  }
}

/**
 * The flow (async context) of each running transaction: a statement on the outer database
 * from inside it throws instead of deadlocking (embedded) or silently escaping it (PostgreSQL).
 */
const inTransaction = new AsyncLocalStorage<true>()

function guarded(db: Db): Db {
  const check = (): void => {
    if (inTransaction.getStore()) throw new OuterStoreInTransactionError()
  }
  return {
    kind: db.kind,
    ...(db.poolStats ? { poolStats: () => db.poolStats!() } : {}),
    query: (sql, params) => {
      check()
      return db.query(sql, params)
    },
    transaction: (fn) => {
      check()
      return db.transaction(fn)
    },
    close: () => db.close()
  }
}

/** What a Store inside a transaction shares with the Store that opened it. */
interface Shared {
  /** Cleared on writes to agents and policies (embedded database only). */
  exchangeCache?: ExchangeInputsCache
  /** Group commit of issued credentials; outside transactions only. */
  batcher?: CredentialBatcher
}

export class Store {
  readonly signingKeys: SigningKeyRepository
  readonly policies: PolicyRepository
  readonly agents: AgentRepository
  readonly credentials: CredentialRepository
  readonly workspaces: WorkspaceRepository
  readonly audit: AuditRepository
  readonly idempotencyKeys: IdempotencyKeyRepository
  /** Introspection clients (HTTP Basic on RFC 7662 introspection). */
  readonly oauthClients: OAuthClientRepository
  /** The exchange's one read of its agent and policies (cached on the embedded database). */
  readonly exchangeInputs: ExchangeInputsReader
  /** The database this store's statements go to (a transaction's inside one). */
  readonly db: Db
  private readonly shared: Shared

  constructor(
    db: Db,
    private readonly now: () => Date = () => new Date(),
    shared?: Shared
  ) {
    this.db = shared ? db : guarded(db)
    this.shared = shared ?? {
      exchangeCache: db.kind === 'pglite' ? new ExchangeInputsCache() : undefined,
      batcher: new CredentialBatcher(this.db)
    }
    const changed = (): void => this.shared.exchangeCache?.invalidate()
    this.signingKeys = new SigningKeyRepository(this.db, now)
    this.policies = new PolicyRepository(this.db, now, changed)
    this.agents = new AgentRepository(this.db, now, changed)
    this.credentials = new CredentialRepository(this.db, now, this.shared.batcher)
    this.workspaces = new WorkspaceRepository(this.db, now)
    this.audit = new AuditRepository(this.db, now)
    this.idempotencyKeys = new IdempotencyKeyRepository(this.db, now)
    this.oauthClients = new OAuthClientRepository(this.db, now)
    this.exchangeInputs = new ExchangeInputsReader(this.db, this.shared.exchangeCache)
  }

  /**
   * Runs `fn` with a Store whose every statement is in one transaction: the rows of one
   * request (workspace, credential, audit event) are all there or none is, even when the
   * process is killed half-way. Inside, only the given store may be used: a statement on
   * this one throws OuterStoreInTransactionError.
   */
  async transaction<T>(fn: (store: Store) => Promise<T>): Promise<T> {
    const { exchangeCache } = this.shared
    try {
      return await this.db.transaction((tx) => {
        const inner: Db = {
          kind: this.db.kind,
          query: (sql, params) => tx.query(sql, params),
          transaction: (nested) => nested(tx), // already in one: join it
          close: async () => undefined
        }
        // No batcher inside: the credential rows must be part of this transaction.
        return inTransaction.run(true, () => fn(new Store(inner, this.now, { exchangeCache })))
      })
    } finally {
      // A read between a write in the transaction and its commit must not stay cached.
      exchangeCache?.invalidate()
    }
  }

  /**
   * Serializes the rest of the current transaction with every other transaction that takes
   * the same key (e.g. the new agents of one repository, so that a cap holds under races).
   */
  async lockKey(key: string): Promise<void> {
    await this.db.query('SELECT pg_advisory_xact_lock(hashtextextended($1, 7301114153))', [key])
  }

  /**
   * Rows written before identities were bound to their issuer (migration 5) get `issuer`:
   * with one configured issuer, they can only have come from it. Returns how many rows
   * changed; with `issuer` undefined it only counts the unbound rows.
   */
  async bindRowsToIssuer(issuer: string | undefined): Promise<number> {
    const tables = ['trust_policies', 'agents', 'workspaces', 'credentials']
    // One statement (start-up pays per statement on the embedded database).
    const parts = tables.map((table, i) =>
      issuer ? `t${i} AS (UPDATE ${table} SET issuer = $1 WHERE issuer IS NULL RETURNING 1)` : `t${i} AS (SELECT 1 FROM ${table} WHERE issuer IS NULL)`
    )
    const { rows } = await this.db.query<{ n: number }>(
      `WITH ${parts.join(', ')} SELECT (${tables.map((_, i) => `(SELECT count(*) FROM t${i})`).join(' + ')})::int AS n`,
      issuer ? [issuer] : []
    )
    const changed = Number(rows[0]!.n)
    if (changed > 0) this.shared.exchangeCache?.invalidate()
    return changed
  }

  /** Retention: audit events recorded, and credentials expired, before `before`. */
  async pruneRetention(before: Date): Promise<{ auditEvents: number; credentials: number }> {
    return { auditEvents: await this.audit.deleteBefore(before), credentials: await this.credentials.deleteExpiredBefore(before) }
  }

  async ping(): Promise<void> {
    await this.db.query('SELECT 1')
  }
}
