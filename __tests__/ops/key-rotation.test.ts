/**
 * Signing key rotation: the new key is published at once and signs new tokens after the
 * activation delay (every instance knows it by then); the JWKS keeps the old key until the
 * last token it signed has expired (plus clock tolerance), then drops it.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals'
import { createLocalJWKSet, decodeProtectedHeader, jwtVerify } from 'jose'
import { KEY_ACTIVATION_DELAY_MS, KEY_RETIREMENT_GRACE_MS, SigningKeys } from '../../shared/server/keys'
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

  it('publishes the new key at once, signs with it after the activation delay, retires the old one after its last token', async () => {
    const before = await api.bootstrap()
    const oldKid = decodeProtectedHeader(before).kid!
    expect((await jwks()).keys.map((k) => k.kid)).toEqual([oldKid])
    // Another instance on the same database, started before the rotation.
    const other = new SigningKeys(server.context.store, () => new Date(Date.now() + server.clock.offsetMs))
    await other.init()

    const rotated = await api.admin('POST', '/api/v1/signing-keys/rotate')
    expect(rotated.status).toBe(201)
    const newKid = rotated.body.kid as string
    expect(newKid).not.toBe(oldKid)
    expect(rotated.body).toMatchObject({ signing: false, retiresAt: null, alg: 'ES256' })
    expect(Date.parse(rotated.body.signsFrom) - Date.parse(rotated.body.createdAt)).toBe(KEY_ACTIVATION_DELAY_MS)

    // Published at once, not used yet: every instance learns it before it signs anything.
    expect((await jwks()).keys.map((k) => k.kid)).toEqual([newKid, oldKid])
    const during = await api.bootstrap()
    expect(decodeProtectedHeader(during).kid).toBe(oldKid)

    server.clock.offsetMs = KEY_ACTIVATION_DELAY_MS
    const after = await api.bootstrap()
    expect(decodeProtectedHeader(after).kid).toBe(newKid)
    expect(await verifiesOffline(before)).toBe(true)
    expect(await verifiesOffline(after)).toBe(true)
    // The other instance accepts the new key's token (it reloads on the unknown kid).
    const url = server.url
    await expect(other.verify(after, { issuer: url, audience: url })).resolves.toMatchObject({ jti: expect.any(String) })
    expect(other.list().find((k) => k.signing)!.kid).toBe(newKid)

    const listed = await api.admin('GET', '/api/v1/signing-keys')
    expect(listed.body.items.map((k: { kid: string; signing: boolean }) => [k.kid, k.signing])).toEqual([
      [newKid, true],
      [oldKid, false]
    ])
    const retiresAt = Date.parse(listed.body.items[1].retiresAt)
    const lastOldExpiry = (await api.admin('POST', '/api/v1/oauth/introspect', { token: during })).body.exp * 1000
    expect(retiresAt).toBeGreaterThan(lastOldExpiry + 60_000)

    // 14 minutes later the old key's last token is still live, so the key is still published.
    server.clock.offsetMs = 14 * 60_000
    expect((await api.admin('POST', '/api/v1/oauth/introspect', { token: during })).body.active).toBe(true)
    expect((await jwks()).keys.map((k) => k.kid)).toEqual([newKid, oldKid])

    // Past the grace every token of the old key has expired: the key leaves the JWKS.
    server.clock.offsetMs = KEY_RETIREMENT_GRACE_MS + 1000
    expect((await jwks()).keys.map((k) => k.kid)).toEqual([newKid])
    expect((await api.admin('POST', '/api/v1/oauth/introspect', { token: during })).body.active).toBe(false)
  })

  it('a restart on the same database signs with the rotated key and drops the retired one', async () => {
    const listed = (await api.admin('GET', '/api/v1/signing-keys')).body.items as Array<{ kid: string; signing: boolean }>
    const restarted = new SigningKeys(server.context.store, () => new Date(Date.now() + server.clock.offsetMs))
    await restarted.init()
    expect(restarted.list().find((k) => k.signing)!.kid).toBe(listed.find((k) => k.signing)!.kid)
    expect(restarted.jwks().keys.map((k) => k.kid)).toEqual(listed.map((k) => k.kid))
    expect((await server.context.store.signingKeys.active()).map((k) => k.kid)).toEqual(listed.map((k) => k.kid))
    // A retired key can never sign again: its private half is deleted, the public one kept.
    const { rows } = await server.context.store.db.query<{ status: string; public_jwk: unknown; private_jwk: unknown }>(
      'SELECT status, public_jwk, private_jwk FROM signing_keys WHERE kid <> ALL($1::text[])',
      [listed.map((k) => k.kid)]
    )
    expect(rows.length).toBeGreaterThan(0)
    for (const row of rows) expect(row).toMatchObject({ status: 'retired', public_jwk: expect.anything(), private_jwk: null })
  })

  it('records the rotation in the audit log without key material', async () => {
    const audit = await api.admin('GET', '/api/v1/audit')
    const event = audit.body.items.find((e: { action: string }) => e.action === 'signing_key.rotate')
    expect(event.detail.kid).toEqual(expect.any(String))
    expect(JSON.stringify(event)).not.toMatch(/"d"|privateJwk|private_jwk/)
  })
})
