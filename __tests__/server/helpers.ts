/**
 * An in-process reference server on 127.0.0.1:0 with a fresh in-memory embedded database
 * (loaded from a migrated template, see openTestDatabase), a local OIDC issuer and a movable clock; `useTestServer()` gives one to the tests of a
 * describe block (or a file), `client()` calls it, and the `given*` builders set up the
 * scenarios the suites start from (a bootstrap policy, a registered agent with its policy).
 * Not a test file.
 */
import { createHash, randomUUID } from 'node:crypto'
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import type { PGlite, PGliteOptions } from '@electric-sql/pglite'
import { afterAll, beforeAll } from '@jest/globals'
import type { FastifyInstance } from 'fastify'
import { buildServer } from '../../shared/server/app'
import { loadConfig, resolvePublicUrl } from '../../shared/server/config'
import { createContext, type AppContext, type TokenVerifier } from '../../shared/server/context'
import type { Db } from '../../shared/server/store/db'
import { MIGRATIONS } from '../../shared/server/store/migrations'
import { openDatabase } from '../../shared/server/store/open'
import { LocalOidcIssuer, githubClaims, type RepoIdentity } from '../../shared/testing/oidc-issuer'
import { EmbeddedWorkspaceEngine } from '../../shared/server/workspaces/pglite-engine'

export const ADMIN_TOKEN = 'test-admin-token-0123456789abcdef'

export interface TestServer {
  url: string
  issuer: LocalOidcIssuer
  app: FastifyInstance
  context: AppContext
  /** Moves the server's clock (not the issuer's): tokens it issued can be made to expire. */
  clock: { offsetMs: number }
  close(): Promise<void>
}

/** Where the migrated template of the embedded database is kept, one file per schema. */
const TEMPLATES = join(tmpdir(), 'federate-test-db')

/** The migrations and the engine version: a template made with other ones is not used. */
function schemaKey(): string {
  const pglite = dirname(createRequire(import.meta.url).resolve('@electric-sql/pglite'))
  const engine = readFileSync(join(pglite, '..', 'package.json'), 'utf8')
  return createHash('sha256').update(JSON.stringify(MIGRATIONS)).update(engine).digest('hex').slice(0, 16)
}

/**
 * Runs `open` (which opens an in-memory embedded database through openDatabase) with `extra`
 * added to the options of the one PGlite.create call it makes, and answers the database and
 * the PGlite instance (undefined if openPglite made its engine another way: then `extra` did
 * not apply, and the template cannot be made; template() says so).
 */
async function withNextCreate(extra: PGliteOptions, open: () => Promise<Db>): Promise<{ db: Db; instance: PGlite | undefined }> {
  type Create = (dataDir?: string, options?: PGliteOptions) => Promise<PGlite>
  const pglite = (await import('@electric-sql/pglite')).PGlite as unknown as { create: Create }
  const original = pglite.create
  let instance: PGlite | undefined
  pglite.create = async (dataDir, options) => {
    pglite.create = original
    instance = await original.call(pglite, dataDir, { ...options, ...extra })
    return instance
  }
  try {
    return { db: await open(), instance }
  } finally {
    pglite.create = original
  }
}

let loaded: Blob | undefined

/** The template (a dump of a migrated embedded database), made once per schema by whichever test process needs it first. */
async function template(): Promise<Blob> {
  if (loaded) return loaded
  const key = schemaKey()
  const file = join(TEMPLATES, `${key}.tar`)
  if (!existsSync(file)) {
    const { db, instance } = await withNextCreate({}, () => openDatabase({}))
    try {
      if (!instance) throw new Error('openTestDatabase: openDatabase did not create its engine with PGlite.create; update __tests__/server/helpers.ts')
      const dump = Buffer.from(await (await instance.dumpDataDir('none')).arrayBuffer())
      mkdirSync(TEMPLATES, { recursive: true })
      const partial = `${file}.${process.pid}-${randomUUID()}`
      writeFileSync(partial, dump)
      renameSync(partial, file) // whole or not at all, whoever is first
      // Templates of older schemas: nobody uses them any more.
      for (const name of readdirSync(TEMPLATES)) if (!name.startsWith(key)) rmSync(join(TEMPLATES, name), { force: true, recursive: true })
    } finally {
      await db.close()
    }
  }
  loaded = new Blob([readFileSync(file)])
  return loaded
}

/**
 * A fresh in-memory embedded database, migrated: what openDatabase({}) answers, but loaded
 * from a dump of a migrated database instead of made empty and migrated (openDatabase opens
 * it, as the server does). Creating an embedded database runs initdb in WebAssembly (2 to 4 s
 * here, the better part of the fast tier's time); loading the dump takes about half a second.
 * Closes once, whoever asks first (a test may close a server's database to see it fail).
 * For tests of the migrations themselves, or of a database made empty, use openDatabase.
 */
export async function openTestDatabase(): Promise<Db> {
  const { db } = await withNextCreate({ loadDataDir: await template() }, () => openDatabase({}))
  let closing: Promise<void> | undefined
  return { ...db, close: () => (closing ??= db.close()) }
}

let workspaceTemplate: Promise<string> | undefined

/**
 * The embedded workspace engine's template (an initialized database with the workspace role),
 * built once per engine version and template set-up, shared by every test server: building one
 * takes seconds, copying it a tenth of that.
 */
function sharedWorkspaceTemplate(): Promise<string> {
  workspaceTemplate ??= (async () => {
    const source = readFileSync(new URL('../../shared/server/workspaces/pglite-engine.ts', import.meta.url), 'utf8')
    // Beside the database templates, not among them: that folder keeps only the current schema's files.
    const root = join(`${TEMPLATES}-workspaces`, `${createHash('sha256').update(schemaKey()).update(source).digest('hex').slice(0, 16)}`)
    const template = join(root, '.template')
    if (!existsSync(join(template, 'PG_VERSION'))) {
      mkdirSync(root, { recursive: true, mode: 0o700 })
      const engine = new EmbeddedWorkspaceEngine({ root })
      try {
        await engine.provision({ engineName: 'w_template_warmup' })
      } finally {
        await engine.close()
      }
    }
    return template
  })()
  return workspaceTemplate
}

/**
 * A DATA_DIR of the server's own (workspaces live there in embedded mode), seeded with the
 * shared workspace template; removed when the server closes.
 */
async function testDataDir(env: Record<string, string>): Promise<string | undefined> {
  if (env.DATA_DIR) return undefined
  const dir = mkdtempSync(join(tmpdir(), 'federate-test-data-'))
  if (!env.WORKSPACES_DATABASE_URL && !env.DATABASE_URL) {
    mkdirSync(join(dir, 'workspaces'), { mode: 0o700 })
    cpSync(await sharedWorkspaceTemplate(), join(dir, 'workspaces', '.template'), { recursive: true })
  }
  return dir
}

export async function startTestServer(env: Record<string, string> = {}, options: { verifier?: TokenVerifier; extraIssuers?: string[] } = {}): Promise<TestServer> {
  const dataDir = await testDataDir(env)
  if (dataDir) env = { DATA_DIR: dataDir, ...env }
  const issuer = await LocalOidcIssuer.start()
  const issuers = [issuer.url, ...(options.extraIssuers ?? [])].join(',')
  // Suites send many malformed requests from one address on purpose; the per-address limit of
  // those has its own tests (__tests__/security/finding-03-*), which set it low again.
  const config = loadConfig({ OIDC_ISSUERS: issuers, ADMIN_TOKEN, PORT: '0', HOST: '127.0.0.1', PREAUTH_FAILURE_BURST: '1000000', ...env })
  // The server's own database on PostgreSQL when the test asks (workspace isolation tests put both on one cluster).
  const db = env.DATABASE_URL ? await openDatabase({ databaseUrl: env.DATABASE_URL }) : await openTestDatabase()
  const clock = { offsetMs: 0 }
  const context = await createContext({
    config,
    db,
    now: () => new Date(Date.now() + clock.offsetMs),
    verifier: options.verifier
  })
  const app = await buildServer(context)
  await app.listen({ port: 0, host: '127.0.0.1' })
  const address = app.server.address()
  const url = resolvePublicUrl(config, typeof address === 'object' && address ? address.port : 0)
  context.setPublicUrl(url)
  return {
    url,
    issuer,
    app,
    context,
    clock,
    /** Closes the app, the database (unless a test did) and the issuer; removes the data directory it made. */
    async close() {
      await app.close()
      await db.close()
      await issuer.close()
      if (dataDir) rmSync(dataDir, { recursive: true, force: true })
    }
  }
}

export { call, type ApiResponse, type CallOptions } from '../../shared/testing/api-call'
import { call, type ApiResponse, type CallOptions } from '../../shared/testing/api-call'

export const ACME: RepoIdentity = { repository: 'acme/widgets', repositoryId: '123456789', ownerId: '4242' }
export const OTHER: RepoIdentity = { repository: 'other/gadgets', repositoryId: '987654321', ownerId: '5151' }

/** A GitHub-like OIDC token for `identity` with the given audience. */
export function oidcToken(server: TestServer, audience: string, identity: RepoIdentity = ACME): Promise<string> {
  return server.issuer.mint({ audience, claims: githubClaims(identity) })
}

/** Convenience wrappers for one server. */
export function client(server: TestServer): Client {
  const api = (method: string, path: string, options?: CallOptions) => call(server.url, method, path, options)
  return {
    api,
    admin: (method: string, path: string, body?: unknown) => api(method, path, { token: ADMIN_TOKEN, body }),
    async policy(fields: Record<string, unknown>): Promise<string> {
      const res = await api('POST', '/api/v1/oidc/trust-policies', { token: ADMIN_TOKEN, body: { provider: 'github', ...fields } })
      if (res.status !== 201) throw new Error(`policy not created: ${res.status} ${res.text}`)
      return res.body.id as string
    },
    async exchange(identity: RepoIdentity = ACME, extra: Record<string, unknown> = {}): Promise<ApiResponse> {
      const token = await oidcToken(server, server.url, identity)
      return api('POST', '/api/v1/oidc/token', { body: { provider: 'github', token, ...extra } })
    },
    async bootstrap(identity: RepoIdentity = ACME): Promise<string> {
      const res = await this.exchange(identity)
      if (res.status !== 200) throw new Error(`bootstrap failed: ${res.status} ${res.text}`)
      return res.body.access_token as string
    },
    async federate(identity: RepoIdentity = ACME, audience = 'persql'): Promise<ApiResponse> {
      return api('POST', '/v1/identity/federate', { token: await oidcToken(server, audience, identity) })
    }
  }
}

export interface Client {
  /** One call to the server (status, headers, text, parsed body). */
  api(method: string, path: string, options?: CallOptions): Promise<ApiResponse>
  /** One call with the admin token. */
  admin(method: string, path: string, body?: unknown): Promise<ApiResponse>
  /** Creates a GitHub trust policy (throws unless 201); answers its id. */
  policy(fields: Record<string, unknown>): Promise<string>
  /** The agent exchange with a fresh OIDC token of `identity` (audience: the server). */
  exchange(identity?: RepoIdentity, extra?: Record<string, unknown>): Promise<ApiResponse>
  /** A bootstrap (agents:write) access token of `identity`; throws unless the exchange answers 200. */
  bootstrap(identity?: RepoIdentity): Promise<string>
  /** Protocol B's federate with a fresh OIDC token of `identity` for `audience`. */
  federate(identity?: RepoIdentity, audience?: string): Promise<ApiResponse>
}

/**
 * A test server for the tests of the enclosing describe block (or of the file, at the top
 * level): started in beforeAll, closed in afterAll. Both answers can be destructured at once
 * (`const { server, client: c } = useTestServer()`); they reach the server only when a test or
 * a hook uses them, and say so when used earlier. Tests that change what others see (the
 * clock, a closed database, a key rotation) put it back, or get a server of their own.
 */
export function useTestServer(env: Record<string, string> = {}, options: { verifier?: TokenVerifier; extraIssuers?: string[] } = {}): { server: TestServer; client: Client } {
  let started: TestServer | undefined
  const current = (): TestServer => {
    if (!started) throw new Error('useTestServer: the server starts in beforeAll; use it inside a test or a hook')
    return started
  }
  beforeAll(async () => {
    started = await startTestServer(env, options)
  })
  afterAll(async () => {
    await started?.close()
    started = undefined
  })
  const server = new Proxy({} as TestServer, {
    get(_target, key) {
      const target = current()
      const value: unknown = Reflect.get(target, key, target)
      return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value
    },
    set: (_target, key, value) => Reflect.set(current(), key, value),
    has: (_target, key) => Reflect.has(current(), key)
  })
  return { server, client: client(server) }
}

let freshIdentities = 0
/** A repository no other test uses: its own policies, agents, workspace and rate-limit buckets. */
export function freshIdentity(label = 'repo'): RepoIdentity {
  freshIdentities++
  return { repository: `fresh/${label}-${freshIdentities}`, repositoryId: String(800_000 + freshIdentities), ownerId: '8080' }
}

/**
 * A trust policy that lets `identity` bootstrap (its repository, any branch unless `fields`
 * say otherwise): the first step of every agent scenario. Answers the policy id.
 */
export function givenBootstrapPolicy(server: TestServer, identity: RepoIdentity = ACME, fields: Record<string, unknown> = {}): Promise<string> {
  return client(server).policy({ repository: identity.repository, ...fields })
}

export interface GivenAgent {
  agentId: string
  name: string
  identity: RepoIdentity
  /** The policy naming the agent. */
  policyId: string
  /** True when the registration created the agent (201), false when it existed (200). */
  created: boolean
  /** A fresh agent-scoped access token. */
  token(): Promise<string>
}

let agentNames = 0
/**
 * A registered agent of `identity` with its trust policy (the repository and the agent id,
 * plus `options.policy`): the bootstrap policy first unless the repository has one, then the
 * registration with a bootstrap token, then the policy naming the agent.
 */
export async function givenAgent(
  server: TestServer,
  identity: RepoIdentity = ACME,
  name = `agent-${++agentNames}@agents.example`,
  options: { description?: string; policy?: Record<string, unknown>; registration?: Record<string, unknown> } = {}
): Promise<GivenAgent> {
  const c = client(server)
  const listed = await c.admin('GET', '/api/v1/oidc/trust-policies')
  if (listed.status !== 200) throw new Error(`policies not listed: ${listed.status} ${listed.text}`)
  const policies = listed.body.items as Array<{ repository: string; agentId?: string | null }>
  if (!policies.some((p) => p.repository === identity.repository && !p.agentId)) await givenBootstrapPolicy(server, identity)
  // More fields of the registration body (owner, allowedScopes, expiresAt).
  const body = { name, ...(options.description === undefined ? {} : { description: options.description }), ...options.registration }
  const registered = await c.api('POST', '/api/v1/agents', { token: await c.bootstrap(identity), body })
  if (registered.status !== 201 && registered.status !== 200) throw new Error(`agent not registered: ${registered.status} ${registered.text}`)
  const agentId = registered.body.agentId as string
  const policyId = await c.policy({ repository: identity.repository, agentId, ...options.policy })
  return {
    agentId,
    name,
    identity,
    policyId,
    created: registered.status === 201,
    async token() {
      const res = await c.exchange(identity, { agentId })
      if (res.status !== 200) throw new Error(`agent token not issued: ${res.status} ${res.text}`)
      return res.body.access_token as string
    }
  }
}
