/**
 * Every SQL statement of the server, behind typed methods. Runs on either driver (db.ts).
 * Nothing here stores a usable secret: credentials are token ids and SHA-256 hashes.
 */
import { randomUUID } from 'node:crypto'
import { CredentialBatcher, insertCredentials, type CredentialWrite } from './credential-batch'
import type { Db, Queryable } from './db'
import { ExchangeInputsCache, type ExchangeInputs } from './exchange-cache'
import type { TrustPolicy } from '../oidc/policy'

export type AgentStatus = 'active' | 'disabled'
export type CredentialKind = 'bootstrap' | 'agent' | 'workspace'

export interface Agent {
  id: string
  /** The OIDC issuer of the repository that registered it. */
  issuer: string
  name: string
  description: string
  repository: string
  repositoryId: string
  status: AgentStatus
  createdAt: Date
  lastUsedAt: Date | null
}

export interface Credential {
  id: string
  kind: CredentialKind
  /** The OIDC issuer of the token it was exchanged for. */
  issuer: string
  agentId: string | null
  workspaceId: string | null
  scope: string
  repository: string
  repositoryId: string
  createdAt: Date
  expiresAt: Date
  lastUsedAt: Date | null
  revokedAt: Date | null
}

export interface Workspace {
  id: string
  issuer: string
  repositoryId: string
  repository: string
  namespace: string
  database: string
  createdAt: Date
}

/** A trust policy row is exactly what the policy module decides on. */
export type StoredPolicy = TrustPolicy

export interface AuditEvent {
  id: string
  at: Date
  action: string
  identityId: string | null
  credentialId: string | null
  workspaceId: string | null
  repository: string | null
  repositoryId: string | null
  detail: Record<string, unknown>
}

export interface SigningKeyRow {
  kid: string
  alg: string
  publicJwk: Record<string, unknown>
  privateJwk: Record<string, unknown>
  createdAt: Date
}

export interface IdempotentResponse {
  requestSha256: string
  status: number
  response: unknown
}

/** An audit event to record; id and time are the store's. */
export interface AuditInput {
  action: string
  identityId?: string | null
  credentialId?: string | null
  workspaceId?: string | null
  repository?: string | null
  repositoryId?: string | null
  detail?: Record<string, unknown>
}

export interface NewCredential {
  id?: string
  kind: CredentialKind
  issuer: string
  agentId?: string
  workspaceId?: string
  scope: string
  repository: string
  repositoryId: string
  tokenSha256?: string
  expiresAt: Date
}

type Row = Record<string, any> // eslint-disable-line @typescript-eslint/no-explicit-any

const date = (v: unknown): Date => (v instanceof Date ? v : new Date(String(v)))
const maybeDate = (v: unknown): Date | null => (v === null || v === undefined ? null : date(v))
const json = <T>(v: unknown): T => (typeof v === 'string' ? JSON.parse(v) : v) as T

function toAgent(r: Row): Agent {
  return {
    id: r.id,
    issuer: r.issuer,
    name: r.name,
    description: r.description,
    repository: r.repository,
    repositoryId: r.repository_id,
    status: r.status,
    createdAt: date(r.created_at),
    lastUsedAt: maybeDate(r.last_used_at)
  }
}

function toCredential(r: Row): Credential {
  return {
    id: r.id,
    kind: r.kind,
    issuer: r.issuer,
    agentId: r.agent_id ?? null,
    workspaceId: r.workspace_id ?? null,
    scope: r.scope,
    repository: r.repository,
    repositoryId: r.repository_id,
    createdAt: date(r.created_at),
    expiresAt: date(r.expires_at),
    lastUsedAt: maybeDate(r.last_used_at),
    revokedAt: maybeDate(r.revoked_at)
  }
}

function toWorkspace(r: Row): Workspace {
  return {
    id: r.id,
    issuer: r.issuer,
    repositoryId: r.repository_id,
    repository: r.repository,
    namespace: r.namespace,
    database: r.database_name,
    createdAt: date(r.created_at)
  }
}

function toPolicy(r: Row): StoredPolicy {
  const policy: StoredPolicy = {
    id: r.id,
    provider: r.provider,
    issuer: r.issuer,
    repository: r.repository,
    createdAt: date(r.created_at).toISOString()
  }
  if (r.repository_id !== null) policy.repositoryId = r.repository_id
  if (r.repository_owner_id !== null) policy.repositoryOwnerId = r.repository_owner_id
  if (r.branch !== null) policy.branch = r.branch
  if (r.environment !== null) policy.environment = r.environment
  if (r.workflow_ref !== null) policy.workflowRef = r.workflow_ref
  if (r.agent_id !== null) policy.agentId = r.agent_id
  if (r.events !== null) policy.events = json<string[]>(r.events)
  return policy
}

function toAudit(r: Row): AuditEvent {
  return {
    id: r.id,
    at: date(r.at),
    action: r.action,
    identityId: r.identity_id ?? null,
    credentialId: r.credential_id ?? null,
    workspaceId: r.workspace_id ?? null,
    repository: r.repository ?? null,
    repositoryId: r.repository_id ?? null,
    detail: json<Record<string, unknown>>(r.detail)
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
  private readonly shared: Shared

  constructor(
    readonly db: Db,
    private readonly now: () => Date = () => new Date(),
    shared?: Shared
  ) {
    this.shared = shared ?? {
      exchangeCache: db.kind === 'pglite' ? new ExchangeInputsCache() : undefined,
      batcher: new CredentialBatcher(db)
    }
  }

  /**
   * Runs `fn` with a Store whose every statement is in one transaction: the rows of one
   * request (workspace, credential, audit event) are all there or none is, even when the
   * process is killed half-way. Inside, use only the given store: on the embedded database
   * a statement on the outer one would wait for this transaction to end.
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
        return fn(new Store(inner, this.now, { exchangeCache }))
      })
    } finally {
      // A read between a write in the transaction and its commit must not stay cached.
      exchangeCache?.invalidate()
    }
  }

  /** After a write to agents or trust_policies. */
  private agentsOrPoliciesChanged(): void {
    this.shared.exchangeCache?.invalidate()
  }

  // --- signing keys -------------------------------------------------------------------

  async activeSigningKeys(): Promise<SigningKeyRow[]> {
    const { rows } = await this.db.query<Row>(
      "SELECT * FROM signing_keys WHERE status = 'active' ORDER BY created_at DESC, kid DESC"
    )
    return rows.map((r) => ({
      kid: r.kid,
      alg: r.alg,
      publicJwk: json(r.public_jwk),
      privateJwk: json(r.private_jwk),
      createdAt: date(r.created_at)
    }))
  }

  /**
   * Makes sure one active key exists; `generate` runs only when none does. Serialized with
   * an advisory lock so two instances starting together end up with a single key.
   */
  async ensureSigningKey(generate: () => Promise<Omit<SigningKeyRow, 'createdAt'>>): Promise<void> {
    await this.db.transaction(async (tx) => {
      await tx.query('SELECT pg_advisory_xact_lock($1)', [7_301_114_152])
      const { rows } = await tx.query<Row>("SELECT kid FROM signing_keys WHERE status = 'active' LIMIT 1")
      if (rows.length > 0) return
      const key = await generate()
      await tx.query(
        'INSERT INTO signing_keys (kid, alg, public_jwk, private_jwk, status, created_at) VALUES ($1, $2, $3, $4, $5, $6)',
        [key.kid, key.alg, JSON.stringify(key.publicJwk), JSON.stringify(key.privateJwk), 'active', this.now()]
      )
    })
  }

  /** Adds a key (rotation); it becomes the newest, so new tokens are signed with it. */
  async addSigningKey(key: Omit<SigningKeyRow, 'createdAt'>): Promise<void> {
    await this.db.query(
      'INSERT INTO signing_keys (kid, alg, public_jwk, private_jwk, status, created_at) VALUES ($1, $2, $3, $4, $5, $6)',
      [key.kid, key.alg, JSON.stringify(key.publicJwk), JSON.stringify(key.privateJwk), 'active', this.now()]
    )
  }

  /**
   * Takes keys out of the JWKS for good (their last token has expired) and deletes their
   * private halves: a retired key can never sign again.
   */
  async retireSigningKeys(kids: string[]): Promise<void> {
    if (kids.length === 0) return
    await this.db.query("UPDATE signing_keys SET status = 'retired', private_jwk = NULL WHERE kid = ANY($1::text[])", [kids])
  }

  /**
   * Emergency rotation: adds `key` and retires every other active key (private halves
   * deleted) in one transaction; returns the withdrawn key ids. Same advisory lock as
   * ensureSigningKey, so an instance starting meanwhile never adds a key of its own.
   */
  async withdrawSigningKeys(key: Omit<SigningKeyRow, 'createdAt'>): Promise<string[]> {
    return this.db.transaction(async (tx) => {
      await tx.query('SELECT pg_advisory_xact_lock($1)', [7_301_114_152])
      await tx.query(
        'INSERT INTO signing_keys (kid, alg, public_jwk, private_jwk, status, created_at) VALUES ($1, $2, $3, $4, $5, $6)',
        [key.kid, key.alg, JSON.stringify(key.publicJwk), JSON.stringify(key.privateJwk), 'active', this.now()]
      )
      const { rows } = await tx.query<Row>(
        "UPDATE signing_keys SET status = 'retired', private_jwk = NULL WHERE status = 'active' AND kid <> $1 RETURNING kid",
        [key.kid]
      )
      return rows.map((r) => r.kid as string).sort()
    })
  }

  /** Replaces a key's plaintext private JWK by its encrypted form (SIGNING_KEYS_SECRET); false if it was not plaintext. */
  async encryptSigningKey(kid: string, encrypted: Record<string, unknown>): Promise<boolean> {
    const { rowCount } = await this.db.query(
      "UPDATE signing_keys SET private_jwk = $2 WHERE kid = $1 AND private_jwk IS NOT NULL AND private_jwk->>'enc' IS NULL",
      [kid, JSON.stringify(encrypted)]
    )
    return rowCount > 0
  }

  // --- trust policies -----------------------------------------------------------------

  async createPolicy(input: Omit<StoredPolicy, 'id' | 'createdAt'>): Promise<StoredPolicy> {
    const { rows } = await this.db.query<Row>(
      `INSERT INTO trust_policies (id, provider, repository, repository_id, repository_owner_id, branch, environment,
         workflow_ref, agent_id, events, created_at, issuer)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) RETURNING *`,
      [
        randomUUID(),
        input.provider,
        input.repository,
        input.repositoryId ?? null,
        input.repositoryOwnerId ?? null,
        input.branch ?? null,
        input.environment ?? null,
        input.workflowRef ?? null,
        input.agentId ?? null,
        input.events ? JSON.stringify(input.events) : null,
        this.now(),
        input.issuer
      ]
    )
    this.agentsOrPoliciesChanged()
    return toPolicy(rows[0]!)
  }

  async listPolicies(): Promise<StoredPolicy[]> {
    const { rows } = await this.db.query<Row>('SELECT * FROM trust_policies ORDER BY created_at, id')
    return rows.map(toPolicy)
  }

  /**
   * The policies `decide()` can use for a token of this repository: every policy it could
   * allow, name as closest, or list in a denial hint is either for this name
   * (case-insensitively, as policy.ts compares) or pins this repository_id (a pinned
   * policy follows a rename), and belongs to the token's issuer: a policy of another issuer
   * never concerns it, whatever the repository name or id.
   */
  async policiesConcerning(issuer: string, repository: string, repositoryId: string): Promise<StoredPolicy[]> {
    const { rows } = await this.db.query<Row>(
      'SELECT * FROM trust_policies WHERE issuer = $3 AND (lower(repository) = lower($1) OR repository_id = $2) ORDER BY created_at, id',
      [repository, repositoryId, issuer]
    )
    return rows.map(toPolicy)
  }

  /**
   * What the exchange reads, in one round trip: the agent (when `agentId` is given) and
   * `policiesConcerning(repository, repositoryId)`, as JSON columns of a single row. On the
   * embedded database, served from memory until an agent or policy changes.
   */
  async exchangeInputs(agentId: string | undefined, issuer: string, repository: string, repositoryId: string): Promise<ExchangeInputs> {
    const load = async (): Promise<ExchangeInputs> => {
      const { rows } = await this.db.query<Row>(
        `SELECT (SELECT to_jsonb(a) FROM agents a WHERE a.id = $3) AS agent,
           (SELECT COALESCE(jsonb_agg(to_jsonb(p) ORDER BY p.created_at, p.id), '[]'::jsonb) FROM trust_policies p
            WHERE p.issuer = $4 AND (lower(p.repository) = lower($1) OR p.repository_id = $2)) AS policies`,
        [repository, repositoryId, agentId ?? null, issuer]
      )
      const agent = json<Row | null>(rows[0]!.agent)
      return { agent: agent ? toAgent(agent) : undefined, policies: json<Row[]>(rows[0]!.policies).map(toPolicy) }
    }
    const cache = this.shared.exchangeCache
    return cache ? cache.read(agentId, issuer, repository, repositoryId, load) : load()
  }

  async deletePolicy(id: string): Promise<boolean> {
    const { rowCount } = await this.db.query('DELETE FROM trust_policies WHERE id = $1', [id])
    this.agentsOrPoliciesChanged()
    return rowCount > 0
  }

  // --- agents -------------------------------------------------------------------------

  async getAgent(id: string): Promise<Agent | undefined> {
    const { rows } = await this.db.query<Row>('SELECT * FROM agents WHERE id = $1', [id])
    return rows[0] ? toAgent(rows[0]) : undefined
  }

  /**
   * Creates the agent unless the name is taken; race-free: exactly one concurrent caller
   * gets `created: true`, the others read the winner's row.
   */
  async registerAgent(input: {
    issuer: string
    name: string
    description: string
    repository: string
    repositoryId: string
  }): Promise<{ agent: Agent; created: boolean }> {
    const inserted = await this.db.query<Row>(
      `INSERT INTO agents (id, name, description, repository, repository_id, status, created_at, issuer)
       VALUES ($1, $2, $3, $4, $5, 'active', $6, $7) ON CONFLICT ((lower(name))) DO NOTHING RETURNING *`,
      [randomUUID(), input.name, input.description, input.repository, input.repositoryId, this.now(), input.issuer]
    )
    this.agentsOrPoliciesChanged()
    if (inserted.rows[0]) return { agent: toAgent(inserted.rows[0]), created: true }
    const { rows } = await this.db.query<Row>('SELECT * FROM agents WHERE lower(name) = lower($1)', [input.name])
    return { agent: toAgent(rows[0]!), created: false }
  }

  /** How many agents a repository (of one issuer) owns, disabled ones included. */
  async countAgents(issuer: string, repositoryId: string): Promise<number> {
    const { rows } = await this.db.query<{ n: number }>(
      'SELECT count(*)::int AS n FROM agents WHERE issuer = $1 AND repository_id = $2',
      [issuer, repositoryId]
    )
    return Number(rows[0]!.n)
  }

  /** True when an agent of this name (any case) exists. */
  async agentNameExists(name: string): Promise<boolean> {
    const { rows } = await this.db.query('SELECT 1 FROM agents WHERE lower(name) = lower($1)', [name])
    return rows.length > 0
  }

  /**
   * Serializes the rest of the current transaction with every other transaction that takes
   * the same key (e.g. the registrations of one repository, so that a cap holds under races).
   */
  async lockKey(key: string): Promise<void> {
    await this.db.query('SELECT pg_advisory_xact_lock(hashtextextended($1, 7301114153))', [key])
  }

  /** Keeps the shown owner name current after a repository rename. */
  async renameAgentRepository(id: string, repository: string): Promise<void> {
    await this.db.query('UPDATE agents SET repository = $2 WHERE id = $1 AND repository <> $2', [id, repository])
    this.agentsOrPoliciesChanged()
  }

  async disableAgent(id: string): Promise<Agent | undefined> {
    const { rows } = await this.db.query<Row>(
      `UPDATE agents SET status = 'disabled', disabled_at = COALESCE(disabled_at, $2) WHERE id = $1 RETURNING *`,
      [id, this.now()]
    )
    this.agentsOrPoliciesChanged()
    return rows[0] ? toAgent(rows[0]) : undefined
  }

  // --- credentials --------------------------------------------------------------------

  async createCredential(input: NewCredential): Promise<Credential> {
    const { rows } = await this.db.query<Row>(
      `INSERT INTO credentials (id, kind, agent_id, workspace_id, scope, repository, repository_id, token_sha256,
         created_at, expires_at, issuer)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING *`,
      this.credentialParams(input, this.now())
    )
    return toCredential(rows[0]!)
  }

  /**
   * The credential row, its audit event (credentialId = the new row's id) and, when
   * `touchAgentId` is set, that agent's last_used_at, in ONE statement: atomic by itself (no
   * credential without its audit event, even after a crash). Outside a transaction,
   * concurrent calls share that statement (credential-batch.ts); inside one, it joins it.
   */
  async createCredentialWithAudit(
    input: NewCredential,
    event: Omit<AuditInput, 'credentialId'>,
    touchAgentId?: string
  ): Promise<Credential> {
    const id = input.id ?? randomUUID()
    const write: CredentialWrite = {
      credential: {
        id,
        kind: input.kind,
        issuer: input.issuer,
        agentId: input.agentId ?? null,
        workspaceId: input.workspaceId ?? null,
        scope: input.scope,
        repository: input.repository,
        repositoryId: input.repositoryId,
        tokenSha256: input.tokenSha256 ?? null,
        createdAt: this.now(),
        expiresAt: input.expiresAt
      },
      audit: {
        id: randomUUID(),
        action: event.action,
        identityId: event.identityId ?? null,
        workspaceId: event.workspaceId ?? null,
        repository: event.repository ?? null,
        repositoryId: event.repositoryId ?? null,
        detail: event.detail ?? {}
      },
      touchAgentId: touchAgentId ?? null
    }
    const { batcher } = this.shared
    await (batcher ? batcher.write(write) : insertCredentials(this.db, [write]))
    const { tokenSha256: _hash, ...credential } = write.credential
    return { ...credential, kind: input.kind, lastUsedAt: null, revokedAt: null }
  }

  private credentialParams(input: NewCredential, now: Date): unknown[] {
    return [
      input.id ?? randomUUID(),
      input.kind,
      input.agentId ?? null,
      input.workspaceId ?? null,
      input.scope,
      input.repository,
      input.repositoryId,
      input.tokenSha256 ?? null,
      now,
      input.expiresAt,
      input.issuer
    ]
  }

  async getCredential(id: string): Promise<Credential | undefined> {
    const { rows } = await this.db.query<Row>('SELECT * FROM credentials WHERE id = $1', [id])
    return rows[0] ? toCredential(rows[0]) : undefined
  }

  async credentialByHash(tokenSha256: string): Promise<Credential | undefined> {
    const { rows } = await this.db.query<Row>('SELECT * FROM credentials WHERE token_sha256 = $1', [tokenSha256])
    return rows[0] ? toCredential(rows[0]) : undefined
  }

  async listAgentCredentials(agentId: string): Promise<Credential[]> {
    const { rows } = await this.db.query<Row>(
      'SELECT * FROM credentials WHERE agent_id = $1 ORDER BY seq DESC LIMIT 500',
      [agentId]
    )
    return rows.map(toCredential)
  }

  /** Marks the credential revoked (first revocation time wins); undefined when unknown. */
  async revokeCredential(id: string): Promise<Credential | undefined> {
    const { rows } = await this.db.query<Row>(
      'UPDATE credentials SET revoked_at = COALESCE(revoked_at, $2) WHERE id = $1 RETURNING *',
      [id, this.now()]
    )
    return rows[0] ? toCredential(rows[0]) : undefined
  }

  async touchCredential(id: string): Promise<void> {
    await this.db.query('UPDATE credentials SET last_used_at = $2 WHERE id = $1', [id, this.now()])
  }

  // --- workspaces ---------------------------------------------------------------------

  /**
   * One workspace per repository_id, race-free: INSERT ... ON CONFLICT DO NOTHING, then
   * read the row. Exactly one concurrent first caller sees `created: true`. A rename only
   * updates the shown name.
   */
  async federateWorkspace(input: {
    issuer: string
    repositoryId: string
    repository: string
    namespace: string
    database: string
  }): Promise<{ workspace: Workspace; created: boolean }> {
    for (let attempt = 0; attempt < 5; attempt++) {
      // No conflict target: a clash on repository_id or on namespace both mean "do nothing",
      // whichever unique index PostgreSQL happens to check first under concurrency.
      const namespace = attempt === 0 ? input.namespace : `${input.namespace}-${randomUUID().slice(0, 4)}`
      const inserted = await this.db.query<Row>(
        `INSERT INTO workspaces (id, repository_id, repository, namespace, database_name, created_at, last_used_at, issuer)
         VALUES ($1, $2, $3, $4, $5, $6, $6, $7) ON CONFLICT DO NOTHING RETURNING *`,
        [randomUUID(), input.repositoryId, input.repository, namespace, input.database, this.now(), input.issuer]
      )
      if (inserted.rows[0]) return { workspace: toWorkspace(inserted.rows[0]), created: true }
      const { rows } = await this.db.query<Row>(
        'UPDATE workspaces SET repository = $2, last_used_at = $3 WHERE repository_id = $1 AND issuer = $4 RETURNING *',
        [input.repositoryId, input.repository, this.now(), input.issuer]
      )
      if (rows[0]) return { workspace: toWorkspace(rows[0]), created: false }
      // The namespace belongs to another repository (a renamed one): try a suffixed one.
    }
    throw new Error('could not allocate a workspace namespace')
  }

  async getWorkspace(id: string): Promise<Workspace | undefined> {
    const { rows } = await this.db.query<Row>('SELECT * FROM workspaces WHERE id = $1', [id])
    return rows[0] ? toWorkspace(rows[0]) : undefined
  }

  // --- audit --------------------------------------------------------------------------

  async audit(event: AuditInput): Promise<void> {
    await this.db.query(
      `INSERT INTO audit_events (id, at, action, identity_id, credential_id, workspace_id, repository, repository_id, detail)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
      [
        randomUUID(),
        this.now(),
        event.action,
        event.identityId ?? null,
        event.credentialId ?? null,
        event.workspaceId ?? null,
        event.repository ?? null,
        event.repositoryId ?? null,
        JSON.stringify(event.detail ?? {})
      ]
    )
  }

  async auditForIdentity(identityId: string, limit = 500): Promise<AuditEvent[]> {
    const { rows } = await this.db.query<Row>(
      'SELECT * FROM audit_events WHERE identity_id = $1 ORDER BY seq DESC LIMIT $2',
      [identityId, limit]
    )
    return rows.map(toAudit)
  }

  async recentAudit(limit = 500): Promise<AuditEvent[]> {
    const { rows } = await this.db.query<Row>('SELECT * FROM audit_events ORDER BY seq DESC LIMIT $1', [limit])
    return rows.map(toAudit)
  }

  // --- idempotency --------------------------------------------------------------------

  async idempotentResponse(scope: string, key: string, maxAgeMs: number): Promise<IdempotentResponse | undefined> {
    const { rows } = await this.db.query<Row>(
      'SELECT request_sha256, status, response FROM idempotency_keys WHERE scope = $1 AND key = $2 AND created_at > $3',
      [scope, key, new Date(this.now().getTime() - maxAgeMs)]
    )
    const r = rows[0]
    return r ? { requestSha256: r.request_sha256, status: Number(r.status), response: json(r.response) } : undefined
  }

  /**
   * Claims (scope, key) for one request before it runs, so that racing requests with the
   * same key (on any instance) run the operation once. True when this caller holds the claim.
   * The claim row has status 0 until `completeIdempotencyKey`; an expired row, or a claim
   * left pending longer than `abandonAfterMs` (its instance died), is taken over.
   */
  async claimIdempotencyKey(
    scope: string,
    key: string,
    requestSha256: string,
    maxAgeMs: number,
    abandonAfterMs: number
  ): Promise<boolean> {
    const now = this.now().getTime()
    await this.db.query(
      `DELETE FROM idempotency_keys WHERE scope = $1 AND key = $2
         AND (created_at <= $3 OR (status = 0 AND created_at <= $4))`,
      [scope, key, new Date(now - maxAgeMs), new Date(now - abandonAfterMs)]
    )
    const { rows } = await this.db.query(
      `INSERT INTO idempotency_keys (scope, key, request_sha256, status, response, created_at)
       VALUES ($1, $2, $3, 0, 'null', $4) ON CONFLICT (scope, key) DO NOTHING RETURNING key`,
      [scope, key, requestSha256, this.now()]
    )
    return rows.length === 1
  }

  /** Stores the successful response of a claimed key. */
  async completeIdempotencyKey(scope: string, key: string, status: number, response: unknown): Promise<void> {
    await this.db.query('UPDATE idempotency_keys SET status = $3, response = $4 WHERE scope = $1 AND key = $2', [
      scope,
      key,
      status,
      JSON.stringify(response)
    ])
  }

  /** Gives a claim up after a failed operation: errors are never stored. */
  async releaseIdempotencyKey(scope: string, key: string): Promise<void> {
    await this.db.query('DELETE FROM idempotency_keys WHERE scope = $1 AND key = $2 AND status = 0', [scope, key])
  }

  /**
   * Retention: deletes audit events recorded before `before` and credentials that expired
   * before it (long unusable; their audit events keep their ids). Returns what was deleted.
   */
  async pruneRetention(before: Date): Promise<{ auditEvents: number; credentials: number }> {
    const audit = await this.db.query('DELETE FROM audit_events WHERE at < $1', [before])
    const credentials = await this.db.query('DELETE FROM credentials WHERE expires_at < $1', [before])
    return { auditEvents: audit.rowCount, credentials: credentials.rowCount }
  }

  /** Drops idempotency rows older than maxAgeMs (called now and then). */
  async pruneIdempotency(maxAgeMs: number): Promise<void> {
    await this.db.query('DELETE FROM idempotency_keys WHERE created_at <= $1', [
      new Date(this.now().getTime() - maxAgeMs)
    ])
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
    if (changed > 0) this.agentsOrPoliciesChanged()
    return changed
  }

  async ping(): Promise<void> {
    await this.db.query('SELECT 1')
  }
}

export type { Db, Queryable }
