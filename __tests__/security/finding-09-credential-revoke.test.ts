/**
 * Finding 9 (low, credentials part): the admin can revoke any credential, not only an
 * agent's: a leaked workspace or bootstrap token stops working at once.
 */
import { beforeAll, describe, expect, it } from '@jest/globals'
import { ACME, givenBootstrapPolicy, useTestServer } from '../server/helpers'

describe('finding 9: POST /api/v1/credentials/{id}/revoke ends any credential', () => {
  const { server, client: c } = useTestServer()
  beforeAll(() => givenBootstrapPolicy(server, ACME))

  /** The credential id of a token, as the admin finds it: introspection's jti. */
  const credentialIdOf = async (token: string): Promise<string> => {
    const res = await c.admin('POST', '/api/v1/oauth/introspect', { token })
    expect(res.body.active).toBe(true)
    return res.body.jti as string
  }

  it('revokes a workspace token: the workspace refuses it at once', async () => {
    const { body } = await c.federate(ACME)
    const { token, url } = body.data as { token: string; url: string }
    const path = new URL(url).pathname
    expect((await c.api('GET', path, { token })).status).toBe(200)
    const id = await credentialIdOf(token)
    const revoked = await c.admin('POST', `/api/v1/credentials/${id}/revoke`)
    expect(revoked.status).toBe(200)
    expect(revoked.body).toMatchObject({ id, kind: 'workspace', status: 'revoked' })
    expect(JSON.stringify(revoked.body)).not.toContain(token)
    expect((await c.api('GET', path, { token })).status).toBe(401)
    const audit = await c.admin('GET', '/api/v1/audit')
    expect(audit.body.items[0]).toMatchObject({ action: 'credential.revoke', credentialId: id, detail: { by: 'admin', kind: 'workspace' } })
  })

  it('revokes a bootstrap token: registration refuses it at once', async () => {
    const token = await c.bootstrap(ACME)
    const id = await credentialIdOf(token)
    expect((await c.admin('POST', `/api/v1/credentials/${id}/revoke`)).body).toMatchObject({ kind: 'bootstrap', status: 'revoked' })
    const res = await c.api('POST', '/api/v1/agents', { token, body: { name: 'late@acme.example' } })
    expect(res.status).toBe(401)
  })

  it('answers 404 for an unknown credential and 401 without the admin token', async () => {
    expect((await c.admin('POST', '/api/v1/credentials/00000000-0000-4000-8000-000000000000/revoke')).status).toBe(404)
    const token = await c.bootstrap(ACME)
    const id = await credentialIdOf(token)
    expect((await c.api('POST', `/api/v1/credentials/${id}/revoke`, { token })).status).toBe(401)
  })
})
