/**
 * Signing key rotation: a new key signs every new token at once, the JWKS keeps the old key
 * until the last token it signed has expired (plus the grace), then drops it.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals'
import { createLocalJWKSet, decodeProtectedHeader, jwtVerify } from 'jose'
import { KEY_RETIREMENT_GRACE_MS, SigningKeys } from '../../shared/server/keys'
import { client, startTestServer, type TestServer } from '../server/helpers'

describe('signing key rotation', () => {
  let server: TestServer
  let api: ReturnType<typeof client>

  beforeAll(async () => {
    server = await startTestServer()
    api = client(server)
    await api.policy({ repository: 'acme/widgets' })
  })
  afterAll(async () => server?.close())

  const jwks = async (): Promise<{ keys: Array<{ kid: string }> }> => (await api.api('GET', '/.well-known/jwks.json')).body
  const verifiesOffline = async (token: string): Promise<boolean> => {
    try {
      await jwtVerify(token, createLocalJWKSet(await jwks()), {
        issuer: server.url,
        audience: server.url,
        currentDate: new Date(Date.now() + server.clock.offsetMs)
      })
      return true
    } catch {
      return false
    }
  }

  it('refuses rotation without the admin token', async () => {
    expect((await api.api('POST', '/api/v1/signing-keys/rotate', { token: 'not-the-admin-token-at-all' })).status).toBe(401)
    expect((await api.api('POST', '/api/v1/signing-keys/rotate')).status).toBe(401)
  })

  it('new tokens use the new key; the old key stays published until its last token has expired', async () => {
    const before = await api.bootstrap()
    const oldKid = decodeProtectedHeader(before).kid!
    expect((await jwks()).keys.map((k) => k.kid)).toEqual([oldKid])

    const rotated = await api.admin('POST', '/api/v1/signing-keys/rotate')
    expect(rotated.status).toBe(201)
    const newKid = rotated.body.kid as string
    expect(newKid).not.toBe(oldKid)
    expect(rotated.body).toMatchObject({ signing: true, retiresAt: null, alg: 'ES256' })

    const after = await api.bootstrap()
    expect(decodeProtectedHeader(after).kid).toBe(newKid)
    expect((await jwks()).keys.map((k) => k.kid)).toEqual([newKid, oldKid])
    expect(await verifiesOffline(before)).toBe(true)
    expect(await verifiesOffline(after)).toBe(true)

    const listed = await api.admin('GET', '/api/v1/signing-keys')
    expect(listed.body.items.map((k: { kid: string }) => k.kid)).toEqual([newKid, oldKid])
    const retiresAt = Date.parse(listed.body.items[1].retiresAt)
    const tokenExpiry = (await api.admin('POST', '/api/v1/oauth/introspect', { token: before })).body.exp * 1000
    expect(retiresAt).toBeGreaterThan(tokenExpiry)

    // 14 minutes later the old token is still live, so its key is still published.
    server.clock.offsetMs = 14 * 60_000
    expect((await api.admin('POST', '/api/v1/oauth/introspect', { token: before })).body.active).toBe(true)
    expect((await jwks()).keys.map((k) => k.kid)).toEqual([newKid, oldKid])

    // Past the grace every token of the old key has expired: the key leaves the JWKS.
    server.clock.offsetMs = KEY_RETIREMENT_GRACE_MS + 1000
    expect((await jwks()).keys.map((k) => k.kid)).toEqual([newKid])
    expect((await api.admin('POST', '/api/v1/oauth/introspect', { token: before })).body.active).toBe(false)
  })

  it('another instance (or a restart) on the same database signs with the rotated key', async () => {
    const listed = (await api.admin('GET', '/api/v1/signing-keys')).body.items as Array<{ kid: string; signing: boolean }>
    const other = new SigningKeys(server.context.store, () => new Date(Date.now() + server.clock.offsetMs))
    await other.init()
    expect(other.list().find((k) => k.signing)!.kid).toBe(listed.find((k) => k.signing)!.kid)
    expect(other.jwks().keys.map((k) => k.kid)).toEqual(listed.map((k) => k.kid))
  })

  it('records the rotation in the audit log without key material', async () => {
    const audit = await api.admin('GET', '/api/v1/audit')
    const event = audit.body.items.find((e: { action: string }) => e.action === 'signing_key.rotate')
    expect(event.detail.kid).toEqual(expect.any(String))
    expect(JSON.stringify(event)).not.toMatch(/"d"|privateJwk|private_jwk/)
  })
})
