/**
 * The workspace is a blast radius: an adversarial suite, run in both storage modes. Workspace
 * A attacks; workspace B and the server hold data A must never see or change. Every attack
 * is sent through the public API with A's token, and for every one of them:
 * - the answer is never a 5xx, and no answer (errors included) carries B's namespace, B's
 *   repository, B's data or the server's own data;
 * - afterwards A still runs as its own role, which is no superuser;
 * and the attacks marked `refused` must fail (the database refuses them by its own privileges
 * or they meet an instance that holds nothing else). At the end B's data is intact and the
 * server still federates.
 */
import { beforeAll, describe, expect, it } from '@jest/globals'
import { ADMIN_TOKEN, call } from '../server/helpers'
import { MODES, federated, useWorkspaceServer, workspaceIdentity, type WorkspaceClient } from './harness'

const B_SECRET = 'b-secret-7f3a91'
const SERVER_MARKER = 'server-marker/isolation-4d2c'

interface Attack {
  name: string
  sql: string
  /** refused: must fail. harmless: may succeed (catalogs with opaque names, own session only). */
  expect: 'refused' | 'harmless'
}

const ATTACKS: Attack[] = [
  // Role changes
  { name: 'SET ROLE to the superuser', sql: 'SET ROLE postgres', expect: 'refused' },
  { name: 'SET SESSION AUTHORIZATION to the superuser', sql: 'SET SESSION AUTHORIZATION postgres', expect: 'refused' },
  { name: 'set_config role', sql: "SELECT set_config('role', 'postgres', false)", expect: 'refused' },
  { name: 'set_config session_authorization', sql: "SELECT set_config('session_authorization', 'postgres', false)", expect: 'refused' },
  { name: 'SET ROLE to a predefined role', sql: 'SET ROLE pg_read_server_files', expect: 'refused' },
  { name: 'SET ROLE pg_signal_backend', sql: 'SET ROLE pg_signal_backend', expect: 'refused' },
  { name: 'RESET SESSION AUTHORIZATION', sql: 'RESET SESSION AUTHORIZATION', expect: 'harmless' },
  { name: 'RESET ROLE', sql: 'RESET ROLE', expect: 'harmless' },
  { name: 'ALTER ROLE itself SUPERUSER', sql: 'ALTER ROLE CURRENT_USER SUPERUSER', expect: 'refused' },
  { name: 'ALTER ROLE itself CREATEDB', sql: 'ALTER ROLE CURRENT_USER CREATEDB', expect: 'refused' },
  { name: 'CREATE ROLE', sql: 'CREATE ROLE intruder LOGIN SUPERUSER', expect: 'refused' },
  { name: 'a role change inside a DO block', sql: "DO $$ BEGIN EXECUTE 'SET ROLE postgres'; END $$", expect: 'refused' },
  // Programs and files of the server
  { name: 'COPY TO PROGRAM', sql: "COPY (SELECT 1) TO PROGRAM 'id'", expect: 'refused' },
  { name: 'COPY FROM PROGRAM', sql: "COPY attacker_notes (body) FROM PROGRAM 'cat /etc/passwd'", expect: 'refused' },
  { name: 'COPY TO a server file', sql: "COPY (SELECT 1) TO '/tmp/federate-isolation-copy'", expect: 'refused' },
  { name: 'COPY FROM a server file', sql: "COPY attacker_notes (body) FROM '/etc/passwd'", expect: 'refused' },
  { name: 'pg_read_file', sql: "SELECT pg_read_file('/etc/passwd')", expect: 'refused' },
  { name: 'pg_read_binary_file', sql: "SELECT pg_read_binary_file('PG_VERSION')", expect: 'refused' },
  { name: 'pg_ls_dir', sql: "SELECT pg_ls_dir('.')", expect: 'refused' },
  { name: 'pg_stat_file', sql: "SELECT pg_stat_file('PG_VERSION')", expect: 'refused' },
  { name: 'server-side lo_import', sql: "SELECT lo_import('/etc/passwd')", expect: 'refused' },
  { name: 'server-side lo_export', sql: "SELECT lo_export(lo_from_bytea(0, 'x'::bytea), '/tmp/federate-isolation-lo')", expect: 'refused' },
  { name: 'a file read inside a DO block', sql: "DO $$ BEGIN PERFORM pg_read_file('/etc/passwd'); END $$", expect: 'refused' },
  { name: 'CREATE TABLESPACE', sql: "CREATE TABLESPACE escape LOCATION '/tmp'", expect: 'refused' },
  { name: 'data_directory setting', sql: "SELECT current_setting('data_directory')", expect: 'refused' },
  { name: 'pg_file_settings', sql: 'SELECT * FROM pg_file_settings', expect: 'refused' },
  // Extensions, languages, libraries
  { name: 'CREATE EXTENSION dblink', sql: 'CREATE EXTENSION dblink', expect: 'refused' },
  { name: 'CREATE EXTENSION postgres_fdw', sql: 'CREATE EXTENSION postgres_fdw', expect: 'refused' },
  { name: 'CREATE EXTENSION file_fdw', sql: 'CREATE EXTENSION file_fdw', expect: 'refused' },
  { name: 'CREATE EXTENSION adminpack', sql: 'CREATE EXTENSION adminpack', expect: 'refused' },
  { name: 'a dblink call', sql: "SELECT * FROM dblink('dbname=postgres', 'SELECT 1') AS t(x int)", expect: 'refused' },
  { name: 'LANGUAGE c', sql: "CREATE FUNCTION libc_abs(int) RETURNS int LANGUAGE c AS 'libc.so.6', 'abs'", expect: 'refused' },
  { name: 'LANGUAGE internal', sql: "CREATE FUNCTION my_abs(int) RETURNS int LANGUAGE internal AS 'int4abs'", expect: 'refused' },
  { name: 'an untrusted language', sql: 'CREATE LANGUAGE plpython3u', expect: 'refused' },
  { name: 'LOAD a library', sql: "LOAD 'auto_explain'", expect: 'refused' },
  // Cluster administration
  { name: 'ALTER SYSTEM', sql: "ALTER SYSTEM SET log_statement = 'all'", expect: 'refused' },
  { name: 'pg_reload_conf', sql: 'SELECT pg_reload_conf()', expect: 'refused' },
  { name: 'CREATE DATABASE', sql: 'CREATE DATABASE intruder', expect: 'refused' },
  { name: 'CREATE SUBSCRIPTION', sql: "CREATE SUBSCRIPTION s CONNECTION 'dbname=postgres' PUBLICATION p", expect: 'refused' },
  { name: 'CREATE EVENT TRIGGER', sql: 'CREATE EVENT TRIGGER t ON ddl_command_start EXECUTE FUNCTION pg_catalog.now()', expect: 'refused' },
  { name: 'CREATE PUBLICATION FOR ALL TABLES', sql: 'CREATE PUBLICATION everything FOR ALL TABLES', expect: 'refused' },
  { name: 'a replication slot', sql: "SELECT pg_create_logical_replication_slot('slot', 'pgoutput')", expect: 'refused' },
  { name: 'signalling the server backends', sql: 'SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename <> current_user', expect: 'harmless' },
  // Other databases and the server's own tables
  { name: 'the server database by a cross-database name', sql: 'SELECT * FROM postgres.public.signing_keys', expect: 'refused' },
  { name: 'the server tables by name', sql: 'SELECT * FROM signing_keys', expect: 'refused' },
  { name: 'the server policies by name', sql: 'SELECT * FROM trust_policies', expect: 'refused' },
  { name: 'the server credentials by name', sql: 'SELECT * FROM credentials', expect: 'refused' },
  { name: 'pg_authid', sql: 'SELECT rolname, rolpassword FROM pg_authid', expect: 'refused' },
  { name: 'pg_shadow', sql: 'SELECT * FROM pg_shadow', expect: 'refused' },
  { name: 'pg_hba_file_rules', sql: 'SELECT * FROM pg_hba_file_rules', expect: 'refused' },
  // Shared catalogs and statistics: readable, but only opaque names
  { name: 'pg_database', sql: 'SELECT datname FROM pg_database', expect: 'harmless' },
  { name: 'pg_roles', sql: 'SELECT rolname, rolsuper FROM pg_roles', expect: 'harmless' },
  { name: 'pg_stat_activity', sql: 'SELECT datname, usename, application_name, query FROM pg_stat_activity', expect: 'harmless' },
  { name: 'pg_stat_database', sql: 'SELECT datname FROM pg_stat_database', expect: 'harmless' },
  { name: 'pg_locks', sql: 'SELECT * FROM pg_locks', expect: 'harmless' },
  { name: 'the tables of information_schema', sql: 'SELECT table_catalog, table_schema, table_name FROM information_schema.tables', expect: 'harmless' }
]

describe.each(MODES)('workspace isolation (%s)', (mode) => {
  const { server } = useWorkspaceServer(mode)
  let a: WorkspaceClient
  let b: WorkspaceClient
  let ownRole: string

  /** Whatever A may see in an answer must not include any of these. */
  const forbiddenTexts = (): string[] => [b.namespace, b.repository, B_SECRET, SERVER_MARKER, ADMIN_TOKEN]

  beforeAll(async () => {
    a = await federated(server(), workspaceIdentity('attacker'))
    b = await federated(server(), workspaceIdentity('victim'))
    expect((await b.query('CREATE TABLE victim_secrets (secret text)')).status).toBe(200)
    expect((await b.query('INSERT INTO victim_secrets VALUES ($1)', [B_SECRET])).status).toBe(200)
    expect((await a.query('CREATE TABLE attacker_notes (body text)')).status).toBe(200)
    const policy = await call(server().url, 'POST', '/api/v1/oidc/trust-policies', {
      token: ADMIN_TOKEN,
      body: { provider: 'github', repository: SERVER_MARKER }
    })
    expect(policy.status).toBe(201)
    const who = await a.query('SELECT current_user AS role')
    ownRole = who.body.data.rows[0][0] as string
  }, 120_000)

  it(`runs ${ATTACKS.length} attacks`, () => {
    expect(ATTACKS.length).toBeGreaterThanOrEqual(40)
  })

  it.each(ATTACKS)('$name', async ({ sql, expect: expected }) => {
    const res = await a.query(sql)
    expect(res.status).toBeLessThan(500)
    if (expected === 'refused') {
      expect(res.status).not.toBe(200)
      expect(res.body.success).toBe(false)
    }
    for (const text of forbiddenTexts()) expect(res.text).not.toContain(text)

    // Whatever it tried, A's next request runs as A's own role, which is no superuser.
    const after = await a.query("SELECT current_user::text, session_user::text, current_setting('is_superuser')")
    expect(after.status).toBe(200)
    expect(after.body.data.rows[0]).toEqual([ownRole, ownRole, 'off'])
  })

  it("never names another workspace's namespace or repository in the shared catalogs", async () => {
    const names = await a.batch([{ sql: 'SELECT datname::text FROM pg_database' }, { sql: 'SELECT rolname::text FROM pg_roles' }])
    expect(names.status).toBe(200)
    const listed = (names.body.data as { rows: string[][] }[]).flatMap((r) => r.rows.map((row) => row[0]!))
    for (const name of listed) {
      expect(name).not.toContain(b.namespace)
      expect(name).not.toContain('victim')
    }
  })

  it('a role change inside a transaction batch is undone with the batch', async () => {
    const res = await a.batch(
      [{ sql: 'CREATE TABLE made_before_the_change (x int)' }, { sql: "SELECT set_config('session_authorization', 'postgres', false)" }, { sql: 'SELECT 1' }],
      true
    )
    expect(res.status).not.toBe(200)
    const exists = await a.query("SELECT count(*)::int FROM pg_catalog.pg_class WHERE relname = 'made_before_the_change'")
    expect(exists.body.data.rows[0][0]).toBe(0)
  })

  it("a function the workspace puts in front of pg_catalog's does not fool the server's own SQL", async () => {
    // CVE-2018-1058 shape: an unqualified call would find public.pg_total_relation_size first.
    const shadow = await a.query('CREATE FUNCTION public.pg_total_relation_size(regclass) RETURNS bigint LANGUAGE sql AS $$ SELECT 0::bigint $$')
    expect(shadow.status).toBe(200)
    expect((await a.query("INSERT INTO attacker_notes SELECT repeat('x', 1000) FROM generate_series(1, 200)")).status).toBe(200)
    const usage = await a.info()
    expect(usage.body.data.usage.bytes).toBeGreaterThan(100_000)
  })

  it("leaves B's data where B left it, and the server working for everyone", async () => {
    const still = await b.query('SELECT secret FROM victim_secrets')
    expect(still.status).toBe(200)
    expect(still.body.data.rows).toEqual([[B_SECRET]])
    const again = await federated(server(), workspaceIdentity('after-attacks'))
    expect((await again.query('SELECT 1')).status).toBe(200)
  })
})
