/**
 * Finding 9 (keys): a leaked signing key must be withdrawable at once. An emergency
 * rotation (`POST /api/v1/signing-keys/rotate` with `{"emergency": true}`) creates a key
 * that signs immediately, takes every other key out of the JWKS, makes every token they
 * signed fail (on this instance at once, on the others at their next key reload, within
 * 10 s), deletes their private halves, and is audited. A plain rotation is unchanged.
 */
import { beforeAll, describe, expect, it } from '@jest/globals'
import { decodeProtectedHeader } from 'jose'
import { SigningKeys } from '../../shared/server/keys'
import { ACME, ADMIN_TOKEN, givenBootstrapPolicy, useTestServer } from '../server/helpers'

/** docs/server.md: other instances drop a withdrawn key at their next key reload, at most 10 s later. */
const OTHER_INSTANCE_BOUND_MS = 10_000

describe('finding 9: emergency signing key withdrawal', () => {
  // The tests rotate this server's keys one after the other: a sequence, in order.
  const { server, client: api } = useTestServer()
  let agentNames = 0
  beforeAll(() => givenBootstrapPolicy(server, ACME))

  const jwksKids = async (): Promise<string[]> => ((await api.api('GET', '/.well-known/jwks.json')).body.keys as Array<{ kid: string }>).map((k) => k.kid)
  /** Uses an access token on an endpoint that requires one (agent registration). */
  const useToken = async (token: string): Promise<number> => (await api.api('POST', '/api/v1/agents', { token, body: { name: `bot${++agentNames}@acme.example` } })).status
  const privateJwkOf = async (kid: string): Promise<{ status: string; private_jwk: unknown }> => {
    const { rows } = await server.context.store.db.query<{ status: string; private_jwk: unknown }>('SELECT status, private_jwk FROM signing_keys WHERE kid = $1', [kid])
    return rows[0]!
  }

  it('refuses unknown fields and a non-boolean emergency (400), and stays admin-only', async () => {
    const before = await jwksKids()
    expect((await api.admin('POST', '/api/v1/signing-keys/rotate', { emergency: true, reason: 'leak' })).status).toBe(400)
    expect((await api.admin('POST', '/api/v1/signing-keys/rotate', { emergency: 'yes' })).status).toBe(400)
    expect((await api.admin('POST', '/api/v1/signing-keys/rotate', [true])).status).toBe(400)
    expect((await api.api('POST', '/api/v1/signing-keys/rotate', { body: { emergency: true } })).status).toBe(401)
    expect(await jwksKids()).toEqual(before)
  })

  it('withdraws the old key at once: its tokens get 401, the JWKS drops it, a new token works, its private key is deleted', async () => {
    const oldToken = await api.bootstrap()
    const oldKid = decodeProtectedHeader(oldToken).kid!
    expect(await useToken(oldToken)).toBe(201)
    // Another instance on the same database, which has loaded the old key and accepts its token.
    const clock = (): Date => new Date(Date.now() + server.clock.offsetMs)
    const other = new SigningKeys(server.context.store, clock)
    await other.init()
    const url = server.url
    await expect(other.verify(oldToken, { issuer: url, audience: url })).resolves.toMatchObject({ jti: expect.any(String) })

    const rotated = await api.admin('POST', '/api/v1/signing-keys/rotate', { emergency: true })
    expect(rotated.status).toBe(201)
    const newKid = rotated.body.kid as string
    expect(newKid).not.toBe(oldKid)
    // It signs at once: no activation delay in an emergency.
    expect(rotated.body).toMatchObject({ signing: true, retiresAt: null, alg: 'ES256' })
    expect(rotated.body.signsFrom).toBe(rotated.body.createdAt)

    // This instance: at once.
    expect(await useToken(oldToken)).toBe(401)
    expect((await api.admin('POST', '/api/v1/oauth/introspect', { token: oldToken })).body).toEqual({ active: false })
    expect(await jwksKids()).toEqual([newKid])
    const listed = (await api.admin('GET', '/api/v1/signing-keys')).body.items as Array<{ kid: string; signing: boolean }>
    expect(listed.map((k) => [k.kid, k.signing])).toEqual([[newKid, true]])

    const newToken = await api.bootstrap()
    expect(decodeProtectedHeader(newToken).kid).toBe(newKid)
    expect(await useToken(newToken)).toBe(201)

    // The withdrawn key is retired and can never sign again: its private half is gone.
    expect(await privateJwkOf(oldKid)).toEqual({ status: 'retired', private_jwk: null })
    expect(await privateJwkOf(newKid)).toMatchObject({ status: 'active', private_jwk: expect.anything() })

    // The other instance: at its next key reload, within the documented bound.
    server.clock.offsetMs = OTHER_INSTANCE_BOUND_MS + 1
    await expect(other.verify(oldToken, { issuer: url, audience: url })).rejects.toThrow()
    expect(other.jwks().keys.map((k) => k.kid)).toEqual([newKid])
    await expect(other.verify(newToken, { issuer: url, audience: url })).resolves.toMatchObject({ jti: expect.any(String) })
    expect(other.list().find((k) => k.signing)!.kid).toBe(newKid)
    // A restart on the database never loads the withdrawn key again.
    const restarted = new SigningKeys(server.context.store, clock)
    await restarted.init()
    expect(restarted.jwks().keys.map((k) => k.kid)).toEqual([newKid])
  })

  it('audits the emergency with the withdrawn key ids (no key material)', async () => {
    const events = (await api.admin('GET', '/api/v1/audit')).body.items as Array<{ action: string; detail: Record<string, unknown> }>
    const emergency = events.filter((e) => e.action === 'signing_key.rotate' && e.detail.emergency === true)
    expect(emergency).toHaveLength(1)
    expect(emergency[0]!.detail).toMatchObject({ emergency: true, kid: expect.any(String), withdrawn: [expect.any(String)] })
    expect(emergency[0]!.detail.withdrawn).not.toContain(emergency[0]!.detail.kid)
    expect(JSON.stringify(emergency)).not.toMatch(/"d"|privateJwk|private_jwk/)
  })

  it('an empty body, no body and {"emergency": false} are a normal rotation (the old key keeps verifying)', async () => {
    for (const body of [undefined, {}, { emergency: false }]) {
      const token = await api.bootstrap()
      const kid = decodeProtectedHeader(token).kid!
      const rotated = await api.api('POST', '/api/v1/signing-keys/rotate', { token: ADMIN_TOKEN, body })
      expect(rotated.status).toBe(201)
      expect(rotated.body.signing).toBe(false)
      expect(await jwksKids()).toEqual(expect.arrayContaining([rotated.body.kid, kid]))
      expect(await useToken(token)).toBe(201)
      expect((await privateJwkOf(kid)).status).toBe('active')
    }
    const events = (await api.admin('GET', '/api/v1/audit')).body.items as Array<{ action: string; detail: Record<string, unknown> }>
    expect(events.filter((e) => e.action === 'signing_key.rotate' && e.detail.emergency === undefined)).toHaveLength(3)
  })
})
