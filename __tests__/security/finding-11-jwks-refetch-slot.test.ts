/**
 * Finding 11: an unknown kid refetches the issuer's JWKS at most once a minute. Anyone can
 * spend that slot with a token carrying a made-up kid; a token signed with a key GitHub has
 * just added was then refused with a non-retryable 401 for up to 60 s.
 *
 * Now: while the refetch is held back, an unknown kid is a 503 temporarily_unavailable with
 * Retry-After = seconds until the next refetch is allowed (the actions retry 503); once a
 * refetch has happened and the kid is still missing, it is a plain 401.
 */
import { beforeAll, describe, expect, it } from '@jest/globals'
import { generateKeyPair } from 'jose'
import { randomUUID } from 'node:crypto'
import { OidcTokenError, OidcVerifier } from '../../shared/server/oidc/verifier'
import { ACME, givenBootstrapPolicy, useTestServer } from '../server/helpers'
import { githubClaims } from '../../shared/testing/oidc-issuer'

// The tests move this server's clock forward, one after the other: a sequence, in order.
const { server, client: c } = useTestServer()
beforeAll(() => givenBootstrapPolicy(server, ACME))

/** A token for ACME minted at the server's (movable) time. */
function mintAtServerTime(options: { privateKey?: Awaited<ReturnType<typeof generateKeyPair>>['privateKey']; kid?: string } = {}): Promise<string> {
  return server.issuer.mint({
    audience: server.url,
    claims: githubClaims(ACME),
    issuedAt: Math.floor((Date.now() + server.clock.offsetMs) / 1000),
    ...(options.privateKey ? { privateKey: options.privateKey } : {}),
    ...(options.kid ? { header: { kid: options.kid } } : {})
  })
}

const exchange = (token: string) => c.api('POST', '/api/v1/oidc/token', { body: { provider: 'github', token } })

describe('finding 11: a key the issuer just added is not refused for a minute', () => {
  it('finding-11: after an unknown kid spent the refetch slot, a token of a newly added key gets 503 + Retry-After, then is accepted', async () => {
    // Keys loaded once.
    expect((await exchange(await mintAtServerTime())).status).toBe(200)
    const fetchesAfterLoad = server.issuer.jwksFetches

    // A minute later, anyone spends the refetch slot with a made-up kid: refetched, still unknown: 401.
    server.clock.offsetMs += 61_000
    const stranger = await generateKeyPair('RS256')
    const spent = await exchange(await mintAtServerTime({ privateKey: stranger.privateKey, kid: randomUUID() }))
    expect(spent.status).toBe(401)
    expect(spent.body.error).toBe('invalid_token')
    expect(server.issuer.jwksFetches).toBe(fetchesAfterLoad + 1)

    // GitHub adds a key and signs with it, 20 s later: the refetch is held back for 40 s more.
    const added = await server.issuer.addKey()
    server.clock.offsetMs += 20_000
    const held = await exchange(await mintAtServerTime({ privateKey: added.privateKey, kid: added.kid }))
    expect(held.status).toBe(503)
    expect(held.body.error).toBe('temporarily_unavailable')
    const retryAfter = Number(held.headers.get('retry-after'))
    expect(retryAfter).toBeGreaterThanOrEqual(39)
    expect(retryAfter).toBeLessThanOrEqual(41)
    expect(server.issuer.jwksFetches).toBe(fetchesAfterLoad + 1)

    // After Retry-After: one refetch finds the key.
    server.clock.offsetMs += retryAfter * 1000
    const accepted = await exchange(await mintAtServerTime({ privateKey: added.privateKey, kid: added.kid }))
    expect(accepted.status).toBe(200)
    expect(server.issuer.jwksFetches).toBe(fetchesAfterLoad + 2)
  })

  it('finding-11: Retry-After is at least 1 s, and the verifier reports retryAfterSeconds on the error', async () => {
    let clock = Date.now()
    const verifier = new OidcVerifier({ issuers: [server.issuer.url], now: () => clock, jwksMinRefetchIntervalMs: 1000 })
    const at = () => Math.floor(clock / 1000)
    await verifier.verify(await server.issuer.mint({ audience: 'aud', issuedAt: at() }), 'aud')
    const added = await server.issuer.addKey()
    clock += 999
    const error = await verifier.verify(await server.issuer.mint({ audience: 'aud', issuedAt: at(), privateKey: added.privateKey, header: { kid: added.kid } }), 'aud').then(
      () => undefined,
      (e: unknown) => e
    )
    expect(error).toBeInstanceOf(OidcTokenError)
    expect((error as OidcTokenError).retryable).toBe(true)
    expect((error as OidcTokenError).claim).toBe('kid')
    expect((error as OidcTokenError & { retryAfterSeconds?: number }).retryAfterSeconds).toBe(1)
    clock += 1
    await expect(
      verifier.verify(await server.issuer.mint({ audience: 'aud', issuedAt: at(), privateKey: added.privateKey, header: { kid: added.kid } }), 'aud')
    ).resolves.toBeDefined()
  })
})
