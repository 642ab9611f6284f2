/**
 * Versioned schema migrations, applied in order at start inside one transaction that holds
 * an advisory lock, so two instances starting at once on one PostgreSQL do not race.
 * Never edit a released migration: add the next version.
 */
import type { Db } from './db'

export interface Migration {
  version: number
  name: string
  sql: string
}

/** Arbitrary constant: the advisory lock key shared by every instance of this server. */
const MIGRATION_LOCK_KEY = 7_301_114_151

export const MIGRATIONS: Migration[] = [
  {
    version: 1,
    name: 'initial schema',
    sql: `
CREATE TABLE signing_keys (
  kid text PRIMARY KEY,
  alg text NOT NULL,
  public_jwk jsonb NOT NULL,
  private_jwk jsonb NOT NULL,
  status text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'retired')),
  created_at timestamptz NOT NULL
);

CREATE TABLE trust_policies (
  id uuid PRIMARY KEY,
  provider text NOT NULL,
  repository text NOT NULL,
  repository_id text,
  repository_owner_id text,
  branch text,
  environment text,
  workflow_ref text,
  agent_id uuid,
  events jsonb,
  created_at timestamptz NOT NULL
);
CREATE INDEX trust_policies_repository ON trust_policies (lower(repository));

CREATE TABLE agents (
  id uuid PRIMARY KEY,
  name text NOT NULL UNIQUE,
  description text NOT NULL DEFAULT '',
  repository text NOT NULL,
  repository_id text NOT NULL,
  status text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'disabled')),
  created_at timestamptz NOT NULL,
  last_used_at timestamptz,
  disabled_at timestamptz
);

CREATE TABLE workspaces (
  id uuid PRIMARY KEY,
  repository_id text NOT NULL UNIQUE,
  repository text NOT NULL,
  namespace text NOT NULL UNIQUE,
  database_name text NOT NULL,
  created_at timestamptz NOT NULL,
  last_used_at timestamptz
);

-- One row per issued token. id is the JWT's jti (or a random id for opaque workspace
-- tokens, found by token_sha256). The token itself is never stored.
CREATE TABLE credentials (
  id uuid PRIMARY KEY,
  seq bigserial NOT NULL,
  kind text NOT NULL CHECK (kind IN ('bootstrap', 'agent', 'workspace')),
  agent_id uuid REFERENCES agents (id),
  workspace_id uuid REFERENCES workspaces (id),
  scope text NOT NULL,
  repository text NOT NULL,
  repository_id text NOT NULL,
  token_sha256 text UNIQUE,
  created_at timestamptz NOT NULL,
  expires_at timestamptz NOT NULL,
  last_used_at timestamptz,
  revoked_at timestamptz
);
CREATE INDEX credentials_agent ON credentials (agent_id, seq DESC);

CREATE TABLE audit_events (
  id uuid PRIMARY KEY,
  seq bigserial NOT NULL,
  at timestamptz NOT NULL,
  action text NOT NULL,
  identity_id uuid,
  credential_id uuid,
  workspace_id uuid,
  repository text,
  repository_id text,
  detail jsonb NOT NULL DEFAULT '{}'::jsonb
);
CREATE INDEX audit_events_identity ON audit_events (identity_id, seq DESC);
CREATE INDEX audit_events_seq ON audit_events (seq DESC);

-- Idempotency-Key replays, scoped to the caller's repository id; 24 h.
CREATE TABLE idempotency_keys (
  scope text NOT NULL,
  key text NOT NULL,
  request_sha256 text NOT NULL,
  status integer NOT NULL,
  response jsonb NOT NULL,
  created_at timestamptz NOT NULL,
  PRIMARY KEY (scope, key)
);
`
  },
  {
    version: 2,
    name: 'rate limit buckets shared by all instances',
    sql: `
-- One token bucket per key (repo:<repository_id>); see rate-limit.ts, DatabaseRateLimiter.
CREATE TABLE rate_limit_buckets (
  key text PRIMARY KEY,
  tokens double precision NOT NULL,
  updated_at timestamptz NOT NULL,
  allowed boolean NOT NULL
);
`
  },
  {
    version: 3,
    name: 'trust policies by pinned repository_id',
    sql: `
-- The exchange reads only the policies of the token's repository: by name (trust_policies_repository)
-- or by pinned id (this one), see Store.policiesConcerning.
CREATE INDEX trust_policies_repository_id ON trust_policies (repository_id);
`
  },
  {
    version: 4,
    name: 'rate limit buckets grant several takes at once',
    sql: `
-- How many of the takes in the last update were granted (DatabaseRateLimiter takes the
-- concurrent requests of one repository in one statement).
ALTER TABLE rate_limit_buckets ADD COLUMN granted integer NOT NULL DEFAULT 0;
`
  },
  {
    version: 5,
    name: 'hardening: identities bound to their issuer, agent names case-insensitive, retention indexes',
    sql: `
-- The OIDC issuer each policy, agent, workspace and credential belongs to. Rows older than
-- this migration get the one configured issuer at the next start (Store.bindRowsToIssuer).
ALTER TABLE trust_policies ADD COLUMN issuer text;
ALTER TABLE agents ADD COLUMN issuer text;
ALTER TABLE workspaces ADD COLUMN issuer text;
ALTER TABLE credentials ADD COLUMN issuer text;

-- One workspace per repository id of one issuer (two issuers may share repository ids).
ALTER TABLE workspaces DROP CONSTRAINT workspaces_repository_id_key;
CREATE UNIQUE INDEX workspaces_issuer_repository_id ON workspaces (issuer, repository_id);

-- Agent names are unique whatever their case (DEPLOY@ACME.EXAMPLE is deploy@acme.example).
ALTER TABLE agents DROP CONSTRAINT agents_name_key;
CREATE UNIQUE INDEX agents_name_lower ON agents (lower(name));
CREATE INDEX agents_owner ON agents (issuer, repository_id);

-- Retention: old audit events and long-expired credentials are deleted by time.
CREATE INDEX audit_events_at ON audit_events (at);
CREATE INDEX credentials_expires_at ON credentials (expires_at);

-- A retired key's private half is deleted (NULL): it can never sign again.
ALTER TABLE signing_keys ALTER COLUMN private_jwk DROP NOT NULL;
`
  },
  {
    version: 6,
    name: 'private halves of retired signing keys deleted',
    sql: `
-- Keys retired by earlier versions kept their private half: deleted now, as retirement does from now on.
UPDATE signing_keys SET private_jwk = NULL WHERE status = 'retired' AND private_jwk IS NOT NULL;
`
  },
  {
    version: 7,
    name: 'workspace databases: engine names, usage, disabling',
    sql: `
-- The workspace's database as the engines know it: an opaque name (database and role in
-- PostgreSQL mode, directory in embedded mode) that reveals no namespace or repository, and
-- the role's password (PostgreSQL mode; sealed with SIGNING_KEYS_SECRET when that is set).
ALTER TABLE workspaces ADD COLUMN engine_name text;
ALTER TABLE workspaces ADD COLUMN engine_secret text;
ALTER TABLE workspaces ADD COLUMN provisioned_at timestamptz;
CREATE UNIQUE INDEX workspaces_engine_name ON workspaces (engine_name);

-- A disabled workspace keeps its data; its tokens stop working until it is enabled again.
ALTER TABLE workspaces ADD COLUMN disabled_at timestamptz;

-- Usage, added to by every instance (deltas), and the last measured size.
ALTER TABLE workspaces ADD COLUMN usage_statements bigint NOT NULL DEFAULT 0;
ALTER TABLE workspaces ADD COLUMN usage_rows_read bigint NOT NULL DEFAULT 0;
ALTER TABLE workspaces ADD COLUMN usage_rows_written bigint NOT NULL DEFAULT 0;
ALTER TABLE workspaces ADD COLUMN usage_bytes bigint NOT NULL DEFAULT 0;
`
  },
  {
    version: 8,
    name: 'least privilege: policy scopes, audiences and lifetime; agent owner, scope cap, expiry, rotation',
    sql: `
-- What a trust policy grants: scopes (agent policies), extra audiences, the longest lifetime.
ALTER TABLE trust_policies ADD COLUMN scopes jsonb;
ALTER TABLE trust_policies ADD COLUMN audiences jsonb;
ALTER TABLE trust_policies ADD COLUMN max_ttl integer;

-- An agent's accountable owner, its cap over every policy's scopes, its end, its last rotation.
ALTER TABLE agents ADD COLUMN owner text;
ALTER TABLE agents ADD COLUMN allowed_scopes jsonb;
ALTER TABLE agents ADD COLUMN expires_at timestamptz;
ALTER TABLE agents ADD COLUMN last_rotated_at timestamptz;
`
  },
  {
    version: 9,
    name: 'introspection clients',
    sql: `
-- Clients that may call introspection with HTTP Basic (RFC 7662 2.1). The secret is kept
-- only as a scrypt hash with its salt (client-secrets.ts); it is shown once, at creation.
CREATE TABLE oauth_clients (
  client_id text PRIMARY KEY,
  name text NOT NULL,
  secret_hash text NOT NULL,
  created_at timestamptz NOT NULL
);
`
  }
]

/** Applies the migrations not yet recorded in schema_migrations; returns the versions applied. */
export async function migrate(db: Db, migrations: Migration[] = MIGRATIONS): Promise<number[]> {
  return db.transaction(async (tx) => {
    await tx.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK_KEY])
    await tx.query('CREATE TABLE IF NOT EXISTS schema_migrations (version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL)')
    const done = await tx.query<{ version: number }>('SELECT version FROM schema_migrations')
    const applied = new Set(done.rows.map((r) => Number(r.version)))
    const ran: number[] = []
    for (const migration of [...migrations].sort((a, b) => a.version - b.version)) {
      if (applied.has(migration.version)) continue
      for (const statement of splitStatements(migration.sql)) await tx.query(statement)
      await tx.query('INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)', [migration.version, migration.name, new Date()])
      ran.push(migration.version)
    }
    return ran
  })
}

/** Our migrations hold no functions or quoted semicolons, so splitting on `;` is safe. */
function splitStatements(sql: string): string[] {
  return sql
    .split(/;\s*$/m)
    .map((s) => s.replace(/^\s*--.*$/gm, '').trim())
    .filter(Boolean)
}
