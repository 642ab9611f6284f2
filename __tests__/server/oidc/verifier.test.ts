import { afterAll, beforeAll, describe, expect, it } from '@jest/globals'
import { createHash, createHmac, generateKeyPairSync } from 'node:crypto'
import { createServer } from 'node:http'
import { SignJWT, exportJWK, exportSPKI, importJWK, type CryptoKey } from 'jose'
import { OidcTokenError, OidcVerifier, tokenSha256, type VerifierOptions } from '../../../shared/server/oidc/verifier'
import { listenLocal } from '../../../shared/testing/ports'
import { b64, FakeIssuer, newSigningKey, type SigningKey } from './fake-issuer'

const AUD = 'https://idp.example.com'
const nowSeconds = (): number => Math.floor(Date.now() / 1000)

let issuer: FakeIssuer
let stranger: SigningKey

beforeAll(async () => {
  issuer = await FakeIssuer.start()
  stranger = await newSigningKey()
})
afterAll(() => issuer.close())

const verifierFor = (target: FakeIssuer, options: Partial<VerifierOptions> = {}): OidcVerifier => new OidcVerifier({ issuers: [target.url], ...options })

/** Asserts a refusal with `code` (and `claim`), and that the message never carries the token. */
async function expectRefused(verifier: OidcVerifier, token: string, code: 'invalid_request' | 'invalid_token', claim?: string, audience = AUD): Promise<OidcTokenError> {
  const error = await verifier.verify(token, audience).then(
    () => undefined,
    (e: unknown) => e
  )
  expect(error).toBeInstanceOf(OidcTokenError)
  const refused = error as OidcTokenError
  expect(refused.code).toBe(code)
  if (claim !== undefined) expect(refused.claim).toBe(claim)
  if (token.length > 0) expect(refused.message).not.toContain(token)
  const signature = token.split('.')[2]
  if (signature && signature.length > 8) expect(refused.message).not.toContain(signature)
  return refused
}

describe('OidcVerifier: accepted tokens', () => {
  it('accepts a GitHub-like token and returns its claims and SHA-256', async () => {
    const token = await issuer.mint()
    const result = await verifierFor(issuer).verify(token, AUD)
    expect(result.claims.repository).toBe('acme/widgets')
    expect(result.claims.repository_id).toBe('123456789')
    expect(result.claims.ref).toBe('refs/heads/main')
    expect(result.tokenSha256).toBe(createHash('sha256').update(token).digest('hex'))
    expect(tokenSha256(token)).toMatch(/^[0-9a-f]{64}$/)
  })

  it('accepts an audience array whose only member is the expected audience', async () => {
    const token = await issuer.mint({ audience: [AUD] })
    await expect(verifierFor(issuer).verify(token, AUD)).resolves.toBeDefined()
  })
})

describe('OidcVerifier: configuration', () => {
  it.each(['http://idp.example.com', 'http://10.0.0.1:8080', 'http://127.0.0.1.evil.com', 'ftp://127.0.0.1', 'not a url', 'https://a.example?x=1'])(
    'refuses the issuer %s at construction',
    (url) => {
      expect(() => new OidcVerifier({ issuers: [url] })).toThrow(/issuer/)
    }
  )

  it.each(['https://token.actions.githubusercontent.com', 'http://127.0.0.1:4000', 'http://127.5.6.7', 'http://localhost:9000', 'http://[::1]:9000'])(
    'accepts the issuer %s',
    (url) => {
      expect(() => new OidcVerifier({ issuers: [url] })).not.toThrow()
    }
  )

  it('refuses an empty issuer list and an issuer that is also rejected (the server itself)', () => {
    expect(() => new OidcVerifier({ issuers: [] })).toThrow(/at least one/)
    expect(() => new OidcVerifier({ issuers: ['http://127.0.0.1:8080'], rejectIssuers: ['http://127.0.0.1:8080/'] })).toThrow(/own URL/)
  })
})

describe('OidcVerifier: shape (invalid_request)', () => {
  it.each([
    ['two segments', 'aaaa.bbbb'],
    ['four segments', 'aaaa.bbbb.cccc.dddd'],
    ['a space', 'aaaa.bb bb.cccc'],
    ['padding', 'aaaa=.bbbb.cccc'],
    ['not a JWT at all', 'ghp_0123456789abcdef']
  ])('refuses a token with %s', async (_name, token) => {
    await expectRefused(verifierFor(issuer), token, 'invalid_request')
  })

  it('refuses an empty token', async () => {
    await expectRefused(verifierFor(issuer), '', 'invalid_request')
  })

  it('refuses a token longer than the cap before decoding it', async () => {
    const huge = `${b64({ alg: 'RS256' })}.${'A'.repeat(20_000)}.sig`
    const error = await expectRefused(verifierFor(issuer), huge, 'invalid_request')
    expect(error.message).toMatch(/longer than 16384/)
  })

  it('answers invalid_token for three base64url segments that are not JSON', async () => {
    await expectRefused(verifierFor(issuer), 'aaaa.bbbb.cccc', 'invalid_token')
  })
})

describe('OidcVerifier: issuer pinning', () => {
  it.each([
    ['a look-alike suffix', (u: string) => `${u}.evil.com`],
    ['a trailing slash', (u: string) => `${u}/`],
    ['a path traversal', (u: string) => `${u}/../x`],
    ['a sub-path', (u: string) => `${u}/evil`],
    ['an upper-case scheme', (u: string) => u.replace('http', 'HTTP')],
    ['the https twin', (u: string) => u.replace('http', 'https')],
    ['the host without its port', (u: string) => u.replace(/:\d+$/, '')]
  ])('refuses iss with %s even when signed by the issuer key', async (_name, change) => {
    const token = await issuer.mint({ claims: { iss: change(issuer.url) } })
    const error = await expectRefused(verifierFor(issuer), token, 'invalid_token', 'iss')
    expect(error.message).toMatch(/not trusted/)
  })

  it('refuses a token with no iss', async () => {
    await expectRefused(verifierFor(issuer), await issuer.mint({ drop: ['iss'] }), 'invalid_token', 'iss')
  })

  it("refuses the server's own tokens (rejectIssuers) with a message saying what they are", async () => {
    const own = 'http://127.0.0.1:8080'
    const token = await issuer.mint({ claims: { iss: own } })
    const error = await expectRefused(verifierFor(issuer, { rejectIssuers: [own] }), token, 'invalid_token', 'iss')
    expect(error.message).toMatch(/issued by this server/)
  })

  it("refuses a token of one trusted issuer signed with another trusted issuer's key", async () => {
    const other = await FakeIssuer.start()
    try {
      const token = await other.mint({ claims: { iss: issuer.url } })
      await expectRefused(new OidcVerifier({ issuers: [issuer.url, other.url] }), token, 'invalid_token', 'kid')
    } finally {
      await other.close()
    }
  })
})

describe('OidcVerifier: algorithms and header keys', () => {
  it('refuses alg none (empty signature) as invalid_token', async () => {
    const token = `${b64({ alg: 'none', typ: 'JWT' })}.${(await issuer.mint()).split('.')[1]}.`
    const error = await expectRefused(verifierFor(issuer), token, 'invalid_token', 'alg')
    expect(error.message).toMatch(/"none" is not allowed/)
  })

  it('refuses HS256 signed with the RSA public key as the HMAC secret', async () => {
    const pem = await exportSPKI((await importJWK(issuer.key.publicJwk, 'RS256')) as CryptoKey)
    const signingInput = `${b64({ alg: 'HS256', typ: 'JWT', kid: issuer.key.kid })}.${(await issuer.mint()).split('.')[1]}`
    const token = `${signingInput}.${createHmac('sha256', pem).update(signingInput).digest('base64url')}`
    await expectRefused(verifierFor(issuer), token, 'invalid_token', 'alg')
  })

  it('refuses RS512 even with the right key', async () => {
    const rs512 = await importJWK(await exportJWK(issuer.key.privateKey), 'RS512')
    const token = await new SignJWT({ iss: issuer.url, aud: AUD }).setProtectedHeader({ alg: 'RS512', kid: issuer.key.kid }).sign(rs512)
    await expectRefused(verifierFor(issuer), token, 'invalid_token', 'alg')
  })

  it('refuses a tampered payload (signature no longer matches)', async () => {
    const [header, payload, signature] = (await issuer.mint()).split('.') as [string, string, string]
    const claims = JSON.parse(Buffer.from(payload, 'base64url').toString()) as Record<string, unknown>
    const tampered = `${header}.${b64({ ...claims, repository: 'acme/crown-jewels' })}.${signature}`
    await expectRefused(verifierFor(issuer), tampered, 'invalid_token', 'signature')
  })

  it('ignores jwk, jku, x5u and x5c headers: a token signed by an attacker key is refused and the URLs are never fetched', async () => {
    let attackerRequests = 0
    const attacker = createServer((_req, res) => {
      attackerRequests++
      res.end(JSON.stringify({ keys: [stranger.publicJwk] }))
    })
    const attackerUrl = `${(await listenLocal(attacker)).url}/jwks`
    try {
      const verifier = verifierFor(issuer)
      const header = { jwk: stranger.publicJwk, jku: attackerUrl, x5u: attackerUrl, x5c: ['MIIBIjANBg'] }
      // kid of the attacker key: unknown to the pinned issuer.
      await expectRefused(verifier, await issuer.mint({ key: stranger, header }), 'invalid_token', 'kid')
      // kid of the real key but signed by the attacker: the embedded key is not used.
      await expectRefused(verifier, await issuer.mint({ key: stranger, header: { ...header, kid: issuer.key.kid } }), 'invalid_token', 'signature')
      expect(attackerRequests).toBe(0)
    } finally {
      attacker.closeAllConnections()
      await new Promise<void>((resolve) => attacker.close(() => resolve()))
    }
  })

  it('refuses a token without kid', async () => {
    const token = await issuer.mint({ header: { kid: undefined } })
    await expectRefused(verifierFor(issuer), token, 'invalid_token', 'kid')
  })
})

describe('OidcVerifier: audience', () => {
  it.each([
    ['another audience', 'https://other.example.com'],
    ['a look-alike audience', `${AUD}.evil.com`],
    ['an array with a stranger', [AUD, 'https://evil.example']],
    ['an array of only strangers', ['https://evil.example']],
    ['an empty array', []]
  ])('refuses %s', async (_name, audience) => {
    const error = await expectRefused(verifierFor(issuer), await issuer.mint({ audience }), 'invalid_token', 'aud')
    expect(error.message).toContain(`request the OIDC token with audience "${AUD}"`)
  })

  it('refuses to verify without an expected audience (a caller bug, not a client error)', async () => {
    await expect(verifierFor(issuer).verify(await issuer.mint({ audience: '' }), '')).rejects.toThrow(TypeError)
  })

  it('refuses a token without aud', async () => {
    await expectRefused(verifierFor(issuer), await issuer.mint({ drop: ['aud'] }), 'invalid_token', 'aud')
  })
})

describe('OidcVerifier: times', () => {
  it.each(['exp', 'iat', 'nbf'])('refuses a token without %s', async (claim) => {
    const error = await expectRefused(verifierFor(issuer), await issuer.mint({ drop: [claim] }), 'invalid_token', claim)
    expect(error.message).toContain(`no "${claim}" claim`)
  })

  it('accepts a token expired 30 s ago (within the 60 s tolerance) and refuses one expired 61 s ago', async () => {
    const now = nowSeconds()
    await expect(verifierFor(issuer).verify(await issuer.mint({ iat: now - 200, claims: { exp: now - 30 } }), AUD)).resolves.toBeDefined()
    const error = await expectRefused(verifierFor(issuer), await issuer.mint({ iat: now - 200, claims: { exp: now - 61 } }), 'invalid_token', 'exp')
    expect(error.message).toMatch(/expired at/)
  })

  it('accepts nbf 50 s ahead and refuses nbf 70 s ahead', async () => {
    const now = nowSeconds()
    await expect(verifierFor(issuer).verify(await issuer.mint({ claims: { nbf: now + 50 } }), AUD)).resolves.toBeDefined()
    await expectRefused(verifierFor(issuer), await issuer.mint({ claims: { nbf: now + 70 } }), 'invalid_token', 'nbf')
  })

  it('accepts iat 400 s old but refuses iat 421 s old even when exp is still ahead', async () => {
    const now = nowSeconds()
    await expect(verifierFor(issuer).verify(await issuer.mint({ iat: now - 400, claims: { exp: now + 600 } }), AUD)).resolves.toBeDefined()
    const error = await expectRefused(verifierFor(issuer), await issuer.mint({ iat: now - 421, claims: { exp: now + 600 } }), 'invalid_token', 'iat')
    expect(error.message).toMatch(/more than 360 s/)
  })

  it('refuses iat more than the tolerance in the future', async () => {
    const now = nowSeconds()
    await expectRefused(verifierFor(issuer), await issuer.mint({ iat: now + 120 }), 'invalid_token', 'iat')
  })

  it('uses the injected clock', async () => {
    const token = await issuer.mint()
    const later = Date.now() + 10 * 60_000
    await expectRefused(verifierFor(issuer, { now: () => later }), token, 'invalid_token', 'exp')
  })
})

describe('OidcVerifier: GitHub claims', () => {
  it.each(['sub', 'repository', 'repository_id', 'repository_owner', 'repository_owner_id', 'ref', 'event_name', 'job_workflow_ref'])(
    'refuses a token without %s',
    async (claim) => {
      await expectRefused(verifierFor(issuer), await issuer.mint({ drop: [claim] }), 'invalid_token', claim)
    }
  )

  it.each(['acme/\u212Aey', 'acme/key/x', 'acme', 'acme/', '/key', 'acme/..', '-acme/key', 'acme/k y', `acme/${'k'.repeat(101)}`])(
    'refuses the repository claim %j: not a GitHub name in ASCII (finding 13)',
    async (repository) => {
      await expectRefused(verifierFor(issuer), await issuer.mint({ claims: { repository } }), 'invalid_token', 'repository')
    }
  )

  it("refuses a repository_owner claim outside GitHub's ASCII set and accepts mixed-case ASCII names (finding 13)", async () => {
    await expectRefused(verifierFor(issuer), await issuer.mint({ claims: { repository_owner: 'acme\u212A' } }), 'invalid_token', 'repository_owner')
    await expectRefused(verifierFor(issuer), await issuer.mint({ claims: { repository_owner: 'ac/me' } }), 'invalid_token', 'repository_owner')
    const { claims } = await verifierFor(issuer).verify(await issuer.mint({ claims: { repository: 'Acme-Corp/My.Repo_name-2', repository_owner: 'Acme-Corp' } }), AUD)
    expect(claims.repository).toBe('Acme-Corp/My.Repo_name-2')
  })

  it.each([
    ['a NUL in ref', { ref: 'refs/heads/ma\u0000in' }, 'ref'],
    ['an unpaired high surrogate in actor', { actor: 'octo\ud800' }, 'actor'],
    ['an unpaired low surrogate in sub', { sub: '\udc00repo:acme/widgets' }, 'sub'],
    ['a NUL deep in a custom claim', { custom: { a: ['ok', { b: 'x\u0000' }] } }, 'custom'],
    ['a NUL in a nested key', { custom: { 'k\u0000': 1 } }, 'custom']
  ])('refuses %s as invalid_request naming the claim (finding 8)', async (_name, claims, claim) => {
    const error = await expectRefused(verifierFor(issuer), await issuer.mint({ claims }), 'invalid_request', claim)
    expect(error.message).toContain(`"${claim}"`)
    expect(error.retryable).toBe(false)
  })

  it('accepts well-formed surrogate pairs (an emoji) in a claim (finding 8)', async () => {
    const { claims } = await verifierFor(issuer).verify(await issuer.mint({ claims: { workflow: 'CI \ud83d\ude80' } }), AUD)
    expect(claims.workflow).toBe('CI \ud83d\ude80')
  })

  it('refuses a non-numeric repository_id and a numeric (non-string) ref', async () => {
    await expectRefused(verifierFor(issuer), await issuer.mint({ claims: { repository_id: '12a' } }), 'invalid_token', 'repository_id')
    await expectRefused(verifierFor(issuer), await issuer.mint({ claims: { ref: 7 } }), 'invalid_token', 'ref')
    await expectRefused(verifierFor(issuer), await issuer.mint({ claims: { environment: ['prod'] } }), 'invalid_token', 'environment')
  })
})

describe('OidcVerifier: discovery and key cache', () => {
  it('fetches discovery and JWKS once for many verifications, also when they start together', async () => {
    const fresh = await FakeIssuer.start()
    try {
      const verifier = verifierFor(fresh)
      const tokens = await Promise.all(Array.from({ length: 10 }, () => fresh.mint()))
      await Promise.all(tokens.map((token) => verifier.verify(token, AUD)))
      for (const token of tokens) await verifier.verify(token, AUD)
      expect(fresh.discoveryRequests).toBe(1)
      expect(fresh.jwksRequests).toBe(1)
    } finally {
      await fresh.close()
    }
  })

  it('refetches for an unknown kid at most once per interval, then finds a rotated key', async () => {
    const fresh = await FakeIssuer.start()
    let clock = Date.now()
    try {
      const verifier = verifierFor(fresh, { now: () => clock })
      await verifier.verify(await fresh.mint(), AUD)
      expect(fresh.jwksRequests).toBe(1)
      // Within the minute after the load: unknown kids do not refetch; retryable, with the
      // seconds until the refetch is allowed (finding 11).
      for (let i = 0; i < 3; i++) {
        const held = await expectRefused(verifier, await fresh.mint({ key: stranger }), 'invalid_token', 'kid')
        expect(held.retryable).toBe(true)
        expect(held.retryAfterSeconds).toBe(60)
      }
      expect(fresh.jwksRequests).toBe(1)
      // A minute later the issuer has rotated: one refetch, then the new key is cached.
      const rotated = await newSigningKey()
      fresh.published = [fresh.key.publicJwk, rotated.publicJwk]
      clock += 60_001
      await verifier.verify(await fresh.mint({ key: rotated }), AUD)
      await verifier.verify(await fresh.mint({ key: rotated }), AUD)
      expect(fresh.jwksRequests).toBe(2)
      // Another unknown kid right after: no refetch (retryable in 60 s).
      expect((await expectRefused(verifier, await fresh.mint({ key: stranger }), 'invalid_token', 'kid')).retryable).toBe(true)
      expect(fresh.jwksRequests).toBe(2)
      // After the interval: one refetch, the kid is still unknown: a plain refusal.
      clock += 60_001
      const refused = await expectRefused(verifier, await fresh.mint({ key: stranger }), 'invalid_token', 'kid')
      expect(refused.retryable).toBe(false)
      expect(refused.retryAfterSeconds).toBeUndefined()
      expect(fresh.jwksRequests).toBe(3)
    } finally {
      await fresh.close()
    }
  })

  it('an unknown kid arriving while a refetch is under way waits for it instead of being held back (finding 11)', async () => {
    const fresh = await FakeIssuer.start()
    let clock = Date.now()
    try {
      const verifier = verifierFor(fresh, { now: () => clock })
      await verifier.verify(await fresh.mint(), AUD)
      const rotated = await newSigningKey()
      fresh.published = [fresh.key.publicJwk, rotated.publicJwk]
      clock += 60_001
      fresh.delayMs = 200
      const [byRotated, byStranger, byRotatedToo] = await Promise.allSettled([
        verifier.verify(await fresh.mint({ key: rotated }), AUD),
        verifier.verify(await fresh.mint({ key: stranger }), AUD),
        verifier.verify(await fresh.mint({ key: rotated }), AUD)
      ])
      expect(byRotated.status).toBe('fulfilled')
      expect(byRotatedToo.status).toBe('fulfilled')
      expect(byStranger.status).toBe('rejected')
      expect(((byStranger as PromiseRejectedResult).reason as OidcTokenError).retryable).toBe(false)
      expect(fresh.jwksRequests).toBe(2)
    } finally {
      await fresh.close()
    }
  })

  it('a failed refetch for an unknown kid is retryable with the refetch interval as Retry-After', async () => {
    const fresh = await FakeIssuer.start()
    let clock = Date.now()
    try {
      const verifier = verifierFor(fresh, { now: () => clock })
      await verifier.verify(await fresh.mint(), AUD)
      clock += 60_001
      fresh.failStatus = 500
      const error = await expectRefused(verifier, await fresh.mint({ key: stranger }), 'invalid_token')
      expect(error.retryable).toBe(true)
      expect(error.retryAfterSeconds).toBe(60)
    } finally {
      await fresh.close()
    }
  })

  it('honours a custom refetch interval', async () => {
    const fresh = await FakeIssuer.start()
    let clock = Date.now()
    try {
      const verifier = verifierFor(fresh, { now: () => clock, jwksMinRefetchIntervalMs: 1000 })
      await verifier.verify(await fresh.mint(), AUD)
      clock += 1001
      await expectRefused(verifier, await fresh.mint({ key: stranger }), 'invalid_token', 'kid')
      expect(fresh.jwksRequests).toBe(2)
    } finally {
      await fresh.close()
    }
  })

  it('refuses a jwks_uri on another origin without fetching it', async () => {
    const fresh = await FakeIssuer.start()
    const elsewhere = await FakeIssuer.start()
    try {
      fresh.discovery = (url) => ({ issuer: url, jwks_uri: `${elsewhere.url}/jwks` })
      const error = await expectRefused(verifierFor(fresh), await fresh.mint(), 'invalid_token')
      expect(error.retryable).toBe(true)
      expect(error.message).toMatch(/not on the issuer's own origin/)
      expect(elsewhere.jwksRequests).toBe(0)
    } finally {
      await fresh.close()
      await elsewhere.close()
    }
  })

  it('does not follow a redirect of the JWKS to another origin', async () => {
    const fresh = await FakeIssuer.start()
    const elsewhere = await FakeIssuer.start()
    try {
      fresh.redirectJwksTo = `${elsewhere.url}/jwks`
      const error = await expectRefused(verifierFor(fresh), await fresh.mint({ key: elsewhere.key }), 'invalid_token')
      expect(error.retryable).toBe(true)
      expect(elsewhere.jwksRequests).toBe(0)
    } finally {
      await fresh.close()
      await elsewhere.close()
    }
  })

  it('refuses a discovery document that names another issuer', async () => {
    const fresh = await FakeIssuer.start()
    try {
      fresh.discovery = (url) => ({ issuer: `${url}/other`, jwks_uri: `${url}/jwks` })
      const error = await expectRefused(verifierFor(fresh), await fresh.mint(), 'invalid_token')
      expect(error.message).toMatch(/names issuer/)
    } finally {
      await fresh.close()
    }
  })

  it('skips JWKS keys that are not RS256 signing keys or too short', async () => {
    const fresh = await FakeIssuer.start()
    // jose refuses to generate keys under 2048 bits, node does not.
    const short = generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey.export({ format: 'jwk' })
    try {
      fresh.published = [
        { ...fresh.key.publicJwk, use: 'enc' },
        { ...short, kid: fresh.key.kid, alg: 'RS256' }
      ]
      const error = await expectRefused(verifierFor(fresh), await fresh.mint(), 'invalid_token')
      expect(error.message).toMatch(/no usable RS256 key/)
    } finally {
      await fresh.close()
    }
  })

  it('times out a slow issuer: invalid_token, retryable, and does not hammer it', async () => {
    const fresh = await FakeIssuer.start()
    try {
      fresh.delayMs = 1500
      const verifier = verifierFor(fresh, { fetchTimeoutMs: 200 })
      const token = await fresh.mint()
      const error = await expectRefused(verifier, token, 'invalid_token')
      expect(error.retryable).toBe(true)
      expect(error.message).toMatch(/no answer within 200 ms/)
      await expectRefused(verifier, token, 'invalid_token')
      expect(fresh.discoveryRequests).toBe(1)
    } finally {
      await fresh.close()
    }
  })

  it('reports an issuer answering 500 as retryable and recovers after the failure delay', async () => {
    const fresh = await FakeIssuer.start()
    let clock = Date.now()
    try {
      fresh.failStatus = 500
      const verifier = verifierFor(fresh, { now: () => clock })
      const token = await fresh.mint()
      const error = await expectRefused(verifier, token, 'invalid_token')
      expect(error.retryable).toBe(true)
      expect(error.retryAfterSeconds).toBe(5)
      expect(error.message).toMatch(/HTTP 500/)
      fresh.failStatus = undefined
      clock += 5_001
      await expect(verifier.verify(token, AUD)).resolves.toBeDefined()
    } finally {
      await fresh.close()
    }
  })

  it('keeps serving cached keys when a periodic refresh fails', async () => {
    const fresh = await FakeIssuer.start()
    let clock = Date.now()
    try {
      const verifier = verifierFor(fresh, { now: () => clock })
      await verifier.verify(await fresh.mint(), AUD)
      fresh.failStatus = 503
      clock += 600_001
      await expect(verifier.verify(await fresh.mint({ iat: Math.floor(clock / 1000) }), AUD)).resolves.toBeDefined()
      expect(fresh.discoveryRequests).toBe(2)
      // The issuer is still down: the next requests within the refetch interval do not retry.
      clock += 30_000
      await expect(verifier.verify(await fresh.mint({ iat: Math.floor(clock / 1000) }), AUD)).resolves.toBeDefined()
      expect(fresh.discoveryRequests).toBe(2)
      clock += 30_001
      await expect(verifier.verify(await fresh.mint({ iat: Math.floor(clock / 1000) }), AUD)).resolves.toBeDefined()
      expect(fresh.discoveryRequests).toBe(3)
    } finally {
      await fresh.close()
    }
  })
})
