/**
 * An in-process reference server on 127.0.0.1:0 with an in-memory embedded database, a
 * local OIDC issuer and a movable clock, plus a small fetch wrapper. Not a test file.
 */
import type { FastifyInstance } from 'fastify'
import { buildServer } from '../../shared/server/app'
import { loadConfig, resolvePublicUrl } from '../../shared/server/config'
import { createContext, type AppContext, type TokenVerifier } from '../../shared/server/context'
import { openDatabase } from '../../shared/server/store/open'
import { LocalOidcIssuer, githubClaims, type RepoIdentity } from '../../shared/testing/oidc-issuer'

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

export async function startTestServer(env: Record<string, string> = {}, options: { verifier?: TokenVerifier; extraIssuers?: string[] } = {}): Promise<TestServer> {
  const issuer = await LocalOidcIssuer.start()
  const issuers = [issuer.url, ...(options.extraIssuers ?? [])].join(',')
  // Suites send many malformed requests from one address on purpose; the per-address limit of
  // those has its own tests (__tests__/security/finding-03-*), which set it low again.
  const config = loadConfig({ OIDC_ISSUERS: issuers, ADMIN_TOKEN, PORT: '0', HOST: '127.0.0.1', PREAUTH_FAILURE_BURST: '1000000', ...env })
  const db = await openDatabase({})
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
    async close() {
      await app.close()
      await db.close()
      await issuer.close()
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
export function client(server: TestServer) {
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
