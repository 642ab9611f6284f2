/**
 * Workspace tests in both storage modes: `useWorkspaceServer('embedded' | 'postgres')` starts
 * a test server whose workspaces live in embedded instances (under its own DATA_DIR) or on a
 * real throw-away PostgreSQL (WORKSPACES_DATABASE_URL), and `workspace()` federates a
 * repository and answers a client of its database. Not a test file.
 */
import { afterAll, beforeAll } from '@jest/globals'
import { call, type ApiResponse } from '../../shared/testing/api-call'
import type { RepoIdentity } from '../../shared/testing/oidc-issuer'
import { startPostgres, type TestPostgres } from '../../shared/testing/postgres'
import { oidcToken, startTestServer, type TestServer } from '../server/helpers'
import { UNIT_TIER } from '../tiers'

export type StorageMode = 'embedded' | 'postgres'
/** PostgreSQL is a process of its own: the fast tier (npm run test:unit) runs the embedded mode only. */
export const MODES: StorageMode[] = UNIT_TIER ? ['embedded'] : ['embedded', 'postgres']

export interface WorkspaceClient {
  url: string
  token: string
  namespace: string
  repository: string
  query(sql: string, params?: unknown[], headers?: Record<string, string>): Promise<ApiResponse>
  batch(statements: { sql: string; params?: unknown[] }[], transaction?: boolean, headers?: Record<string, string>): Promise<ApiResponse>
  tables(): Promise<ApiResponse>
  info(): Promise<ApiResponse>
}

/** A client of the workspace a federate answer opened. */
export function workspaceClient(url: string, token: string, namespace: string, repository: string): WorkspaceClient {
  const post = (path: string, body: unknown, headers?: Record<string, string>): Promise<ApiResponse> => call(url, 'POST', path, { token, body, headers })
  return {
    url,
    token,
    namespace,
    repository,
    query: (sql, params, headers) => post('/query', params === undefined ? { sql } : { sql, params }, headers),
    batch: (statements, transaction, headers) => post('/batch', transaction === undefined ? { statements } : { statements, transaction }, headers),
    tables: () => call(url, 'GET', '/tables', { token }),
    info: () => call(url, 'GET', '', { token })
  }
}

/** Federates `identity` on `server` and answers a client of its workspace (throws unless 200/201). */
export async function federated(server: TestServer, identity: RepoIdentity, scope?: string): Promise<WorkspaceClient> {
  const res = await call(server.url, 'POST', '/v1/identity/federate', {
    token: await oidcToken(server, 'persql', identity),
    ...(scope === undefined ? {} : { body: { scope } })
  })
  if (res.status !== 200 && res.status !== 201) throw new Error(`federate failed: ${res.status} ${res.text}`)
  const data = res.body.data as { url: string; token: string; namespace: string }
  return workspaceClient(data.url, data.token, data.namespace, identity.repository)
}

/** A test server in `mode` for the enclosing describe block; PostgreSQL started and stopped with it. */
export function useWorkspaceServer(mode: StorageMode, env: Record<string, string> = {}): { server: () => TestServer; postgres: () => TestPostgres | undefined } {
  let server: TestServer | undefined
  let postgres: TestPostgres | undefined
  beforeAll(async () => {
    if (mode === 'postgres') postgres = await startPostgres()
    // PostgreSQL mode as operators run it: the server's tables and the workspaces on one cluster.
    server = await startTestServer({ ...(postgres ? { DATABASE_URL: postgres.url } : {}), ...env })
  })
  afterAll(async () => {
    await server?.close()
    await postgres?.stop()
  })
  return {
    server: () => {
      if (!server) throw new Error('useWorkspaceServer: the server starts in beforeAll')
      return server
    },
    postgres: () => postgres
  }
}

let identities = 0
/** A repository of its own for one workspace. */
export function workspaceIdentity(label: string): RepoIdentity {
  identities++
  return { repository: `ws-${label}/repo-${identities}`, repositoryId: String(700_000 + identities), ownerId: '7070' }
}
