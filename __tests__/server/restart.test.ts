import { afterAll, beforeAll, describe, expect, it } from '@jest/globals'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { LocalOidcIssuer } from '../../shared/testing/oidc-issuer'
import { startServerProcess, type ServerProcess } from '../../shared/testing/server-process'
import { call } from './helpers'

describe('restart on the embedded database', () => {
  let issuer: LocalOidcIssuer
  let dataDir: string
  let server: ServerProcess | undefined

  beforeAll(async () => {
    issuer = await LocalOidcIssuer.start()
    dataDir = mkdtempSync(join(tmpdir(), 'federate-restart-'))
  })
  afterAll(async () => {
    await server?.stop()
    await issuer.close()
    rmSync(dataDir, { recursive: true, force: true })
  })

  it('keeps policies, agents, signing keys, workspaces and issued tokens across a restart', async () => {
    const adminToken = 'restart-admin-token-0123456789'
    server = await startServerProcess({ issuerUrl: issuer.url, dataDir, env: { ADMIN_TOKEN: adminToken } })
    let url = server.url
    const policy = await call(url, 'POST', '/api/v1/oidc/trust-policies', {
      token: adminToken,
      body: { provider: 'github', repository: 'acme/widgets' }
    })
    expect(policy.status).toBe(201)
    const bootstrap = await call(url, 'POST', '/api/v1/oidc/token', {
      body: { provider: 'github', token: await issuer.mint({ audience: url }) }
    })
    const register = await call(url, 'POST', '/api/v1/agents', {
      token: bootstrap.body.access_token,
      body: { name: 'keep@acme.example' }
    })
    expect(register.status).toBe(201)
    const federated = await call(url, 'POST', '/v1/identity/federate', { token: await issuer.mint({ audience: 'persql' }) })
    expect(federated.status).toBe(201)
    const jwksBefore = (await call(url, 'GET', '/.well-known/jwks.json')).body

    await server.stop()
    // Same origin again: it is the audience and the issuer of what was issued before.
    server = await startServerProcess({
      issuerUrl: issuer.url,
      dataDir,
      env: { ADMIN_TOKEN: adminToken, PUBLIC_URL: url, PORT: new URL(url).port }
    })
    url = server.url

    expect((await call(url, 'GET', '/.well-known/jwks.json')).body).toEqual(jwksBefore)
    const policies = await call(url, 'GET', '/api/v1/oidc/trust-policies', { token: adminToken })
    expect(policies.body.items.map((p: { id: string }) => p.id)).toEqual([policy.body.id])
    const introspect = await call(url, 'POST', '/api/v1/oauth/introspect', {
      token: adminToken,
      body: { token: bootstrap.body.access_token }
    })
    expect(introspect.body).toMatchObject({ active: true, scope: 'agents:write' })
    const again = await call(url, 'POST', '/api/v1/agents', {
      token: bootstrap.body.access_token,
      body: { name: 'keep@acme.example' }
    })
    expect(again.status).toBe(200)
    expect(again.body.agentId).toBe(register.body.agentId)
    const workspace = await call(url, 'GET', new URL(federated.body.data.url).pathname, { token: federated.body.data.token })
    expect(workspace.status).toBe(200)
    const second = await call(url, 'POST', '/v1/identity/federate', { token: await issuer.mint({ audience: 'persql' }) })
    expect(second.status).toBe(200)
    expect(second.body.data.namespace).toBe(federated.body.data.namespace)
    // Two cold starts of a process with an on-disk database: slow on a busy CI machine.
  }, 180_000)
})
