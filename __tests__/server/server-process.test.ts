import { afterAll, beforeAll, describe, expect, it } from '@jest/globals'
import { call } from '../../shared/testing/api-call'
import { LocalOidcIssuer } from '../../shared/testing/oidc-issuer'
import { startServerProcess, type ServerProcess } from '../../shared/testing/server-process'

describe('npm run server as a child process', () => {
  let issuer: LocalOidcIssuer
  let server: ServerProcess

  beforeAll(async () => {
    issuer = await LocalOidcIssuer.start()
    server = await startServerProcess({ issuerUrl: issuer.url })
  }, 120_000)
  afterAll(async () => {
    await server?.stop()
    await issuer?.close()
  })

  it('prints its URL and the data dir, never the admin token it was given', () => {
    expect(server.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/)
    expect(server.output()).toContain(`federate server listening on ${server.url}`)
    expect(server.output()).toContain(`data dir: ${server.dataDir}`)
    expect(server.output()).not.toContain(server.adminToken)
  })

  it('bootstraps, registers an agent and federates over real HTTP', async () => {
    const policy = await call(server.url, 'POST', '/api/v1/oidc/trust-policies', {
      token: server.adminToken,
      body: { provider: 'github', repository: 'acme/widgets', branch: 'main' }
    })
    expect(policy.status).toBe(201)

    const exchange = await call(server.url, 'POST', '/api/v1/oidc/token', { body: { provider: 'github', token: await issuer.mint({ audience: server.url }) } })
    expect(exchange.status).toBe(200)
    const { access_token, scope } = exchange.body as { access_token: string; scope: string }
    expect(scope).toBe('agents:write')

    const register = await call(server.url, 'POST', '/api/v1/agents', { token: access_token, body: { name: 'bot@acme.example' } })
    expect(register.status).toBe(201)

    const federate = await call(server.url, 'POST', '/v1/identity/federate', { token: await issuer.mint({ audience: 'persql' }) })
    expect(federate.status).toBe(201)
    expect(server.output()).not.toContain(access_token)
  })

  it('stops on SIGTERM with exit code 0', async () => {
    await server.stop()
    expect(await server.exited).toBe(0)
  })
})
