/**
 * Adversarial suite: crafted GitHub OIDC tokens and hostile requests against the real app
 * over real HTTP (127.0.0.1, port 0), each asserting the exact status and error code of
 * docs/protocol.md. At the end: every refusal that reached token verification is audited with the
 * token's SHA-256, and no audit event and no answer ever contains a token.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals'
import { createHash, createHmac } from 'node:crypto'
import { createServer, type Server } from 'node:http'
import { exportJWK, exportSPKI, generateKeyPair, importJWK, type CryptoKey, type JWK } from 'jose'
import { githubClaims, LocalOidcIssuer, type MintOptions, type RepoIdentity } from '../../shared/testing/oidc-issuer'
import { listenLocal } from '../../shared/testing/ports'
import { startServerProcess } from '../../shared/testing/server-process'
import { waitFor } from '../../shared/testing/wait-for'
import { describeStartsProcess } from '../tiers'
import { ACME, ADMIN_TOKEN, call, givenBootstrapPolicy, useTestServer, type ApiResponse } from './helpers'

const AGENT_PATH = '/api/v1/oidc/token'
const FEDERATE_PATH = '/v1/identity/federate'

const { server } = useTestServer()
let untrusted: LocalOidcIssuer
let attacker: { privateKey: CryptoKey; jwk: JWK; kid: string }
let attackerJwks: Server
let attackerUrl: string
let attackerRequests = 0
let bootstrapPolicyId: string
/** Tokens refused after reaching verification: their SHA-256 must be in the audit log. */
const refusedTokens: string[] = []
/** Every token sent: none may appear in the audit log. */
const sentTokens: string[] = []

const b64 = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString('base64url')
const sha256 = (text: string): string => createHash('sha256').update(text).digest('hex')
const nowSeconds = (): number => Math.floor(Date.now() / 1000)

beforeAll(async () => {
  untrusted = await LocalOidcIssuer.start()
  const pair = await generateKeyPair('RS256', { extractable: true })
  const kid = 'attacker-key-1'
  attacker = { privateKey: pair.privateKey, kid, jwk: { ...(await exportJWK(pair.publicKey)), kid, alg: 'RS256', use: 'sig' } }
  attackerJwks = createServer((_req, res) => {
    attackerRequests++
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys: [attacker.jwk] }))
  })
  attackerUrl = (await listenLocal(attackerJwks)).url
  // The policy every crafted token aims at: pinned ids, branch main, default events.
  bootstrapPolicyId = await givenBootstrapPolicy(server, ACME, { repositoryId: ACME.repositoryId, repositoryOwnerId: ACME.ownerId, branch: 'main' })
})

afterAll(async () => {
  attackerJwks.closeAllConnections()
  await new Promise<void>((resolve) => attackerJwks.close(() => resolve()))
  await untrusted.close()
})

/** A token the trusted issuer signs for the agent endpoints (audience = PUBLIC_URL). */
function mint(overrides: Partial<MintOptions> = {}, identity: RepoIdentity = ACME): Promise<string> {
  return server.issuer.mint({ audience: server.url, claims: githubClaims(identity), ...overrides })
}

/** POST the exchange with `token`; remembers the token for the audit checks. */
async function exchange(token: string, extra: Record<string, unknown> = {}): Promise<ApiResponse> {
  sentTokens.push(token)
  return call(server.url, 'POST', AGENT_PATH, { body: { provider: 'github', token, ...extra } })
}

async function federate(token: string): Promise<ApiResponse> {
  sentTokens.push(token)
  return call(server.url, 'POST', FEDERATE_PATH, { token })
}

/** Asserts status + code in the route's envelope, and that the answer does not echo the token. */
function expectRefused(res: ApiResponse, status: number, code: string, token?: string): void {
  const protocolB = res.body && 'success' in res.body
  const actual = protocolB ? { status: res.status, code: res.body.code, success: res.body.success } : { status: res.status, code: res.body?.error }
  expect(actual).toEqual(protocolB ? { status, code, success: false } : { status, code })
  if (token !== undefined) {
    expect(res.text).not.toContain(token)
    const signature = token.split('.')[2]
    if (signature && signature.length > 16) expect(res.text).not.toContain(signature)
    if (status === 401 || status === 403 || status === 503) refusedTokens.push(token)
  }
}

/**
 * An unknown kid is refused: 401 after a JWKS refetch that still lacks it, or, while the
 * refetch is held back by the minimum interval, 503 temporarily_unavailable with Retry-After
 * (it may be a key the issuer has just added; finding 11). Never accepted either way.
 */
function expectUnknownKidRefused(res: ApiResponse, token: string): void {
  if (res.status === 503) {
    expectRefused(res, 503, 'temporarily_unavailable', token)
    expect(Number(res.headers.get('retry-after'))).toBeGreaterThanOrEqual(1)
  } else {
    expectRefused(res, 401, 'invalid_token', token)
  }
}

describe('control', () => {
  it('accepts a well-formed token for the policy (so the refusals below are about the attack)', async () => {
    const token = await mint()
    const res = await exchange(token)
    expect(res.status).toBe(200)
    expect(res.body.scope).toBe('agents:write')
  })
})

describe('signature and algorithm', () => {
  it('01 refuses alg "none" with an empty signature: 401 invalid_token', async () => {
    const token = `${b64({ alg: 'none', typ: 'JWT' })}.${(await mint()).split('.')[1]}.`
    expectRefused(await exchange(token), 401, 'invalid_token', token)
  })

  it('02 refuses HS256 signed with the issuer RSA public key (PEM) as HMAC secret: 401', async () => {
    const pem = await exportSPKI((await importJWK(server.issuer.publicKeyJwk, 'RS256')) as CryptoKey)
    const input = `${b64({ alg: 'HS256', typ: 'JWT', kid: server.issuer.keyId })}.${(await mint()).split('.')[1]}`
    const token = `${input}.${createHmac('sha256', pem).update(input).digest('base64url')}`
    expectRefused(await exchange(token), 401, 'invalid_token', token)
  })

  it('03 refuses a tampered payload (other/gadgets re-labelled acme/widgets): 401', async () => {
    const [header, payload, signature] = (await mint({}, { repository: 'other/gadgets', repositoryId: '987654321', ownerId: '5151' })).split('.')
    const claims = JSON.parse(Buffer.from(payload!, 'base64url').toString()) as Record<string, unknown>
    const token = `${header}.${b64({ ...claims, ...githubClaims(ACME), iss: claims.iss, aud: claims.aud })}.${signature}`
    expectRefused(await exchange(token), 401, 'invalid_token', token)
  })

  it('04 refuses an unknown kid signed by a key the issuer never published: 401 (503 while the JWKS refetch is held back)', async () => {
    const token = await mint({ privateKey: attacker.privateKey, header: { kid: attacker.kid } })
    expectUnknownKidRefused(await exchange(token), token)
  })

  it('05 ignores a jku header pointing at the attacker JWKS: refused (401/503) and the URL is never fetched', async () => {
    const token = await mint({ privateKey: attacker.privateKey, header: { kid: attacker.kid, jku: `${attackerUrl}/jwks` } })
    expectUnknownKidRefused(await exchange(token), token)
    expect(attackerRequests).toBe(0)
  })

  it('06 ignores an embedded jwk header carrying the attacker key under the real kid: 401', async () => {
    const token = await mint({ privateKey: attacker.privateKey, header: { kid: server.issuer.keyId, jwk: attacker.jwk } })
    expectRefused(await exchange(token), 401, 'invalid_token', token)
  })

  it('07 ignores x5u and x5c headers: 401 and nothing fetched', async () => {
    const token = await mint({
      privateKey: attacker.privateKey,
      header: { kid: server.issuer.keyId, x5u: `${attackerUrl}/cert.pem`, x5c: [Buffer.from('not a certificate').toString('base64')] }
    })
    expectRefused(await exchange(token), 401, 'invalid_token', token)
    expect(attackerRequests).toBe(0)
  })
})

describe('key cache', () => {
  it('50 a flood of unknown-kid tokens does not refetch the JWKS per request: refused each (401/503), at most one refetch', async () => {
    await exchange(await mint()) // keys loaded
    const before = server.issuer.jwksFetches
    for (let i = 0; i < 20; i++) {
      const token = await mint({ privateKey: attacker.privateKey, header: { kid: `random-kid-${i}` } })
      expectUnknownKidRefused(await exchange(token), token)
    }
    expect(server.issuer.jwksFetches - before).toBeLessThanOrEqual(1)
  })

  it('51 refuses an unknown critical header extension: 401', async () => {
    // jose will not sign this, so sign by hand with the issuer's key (a private field, read for this test only).
    const issuerKey = (server.issuer as unknown as { privateKey: CryptoKey }).privateKey
    const input = `${b64({ alg: 'RS256', typ: 'JWT', kid: server.issuer.keyId, crit: ['exp-evil'], 'exp-evil': true })}.${(await mint()).split('.')[1]}`
    const signature = await crypto.subtle.sign('RSASSA-PKCS1-v1_5', issuerKey, new TextEncoder().encode(input))
    const token = `${input}.${Buffer.from(signature).toString('base64url')}`
    const res = await exchange(token)
    expectRefused(res, 401, 'invalid_token', token)
    expect(res.body.error_description).toMatch(/"exp-evil" is not recognized/)
  })
})

describe('times', () => {
  it('08 refuses an expired token (exp 100 s ago): 401', async () => {
    const token = await mint({ issuedAt: nowSeconds() - 400, lifetimeSeconds: 300 })
    expectRefused(await exchange(token), 401, 'invalid_token', token)
  })

  it('09 refuses a token whose nbf is 5 minutes ahead: 401', async () => {
    const token = await mint({ notBeforeSkewSeconds: -300 })
    expectRefused(await exchange(token), 401, 'invalid_token', token)
  })

  it('10 refuses a token without exp: 401', async () => {
    const token = await mint({ omit: ['exp'] })
    expectRefused(await exchange(token), 401, 'invalid_token', token)
  })

  it('11 refuses a token without iat: 401', async () => {
    const token = await mint({ omit: ['iat'] })
    expectRefused(await exchange(token), 401, 'invalid_token', token)
  })

  it('12 refuses a token without nbf: 401', async () => {
    const token = await mint({ omit: ['nbf'] })
    expectRefused(await exchange(token), 401, 'invalid_token', token)
  })

  it('13 refuses a token issued 8 minutes ago even though it expires in 7: 401', async () => {
    const token = await mint({ issuedAt: nowSeconds() - 480, lifetimeSeconds: 900 })
    expectRefused(await exchange(token), 401, 'invalid_token', token)
  })
})

describe('issuer', () => {
  it('14 refuses iss "<issuer>.evil.com" (look-alike suffix), signed by the real key: 401', async () => {
    const token = await mint({ issuer: `${server.issuer.url}.evil.com` })
    expectRefused(await exchange(token), 401, 'invalid_token', token)
  })

  it('15 refuses iss "<issuer>/../x" (path traversal): 401', async () => {
    const token = await mint({ issuer: `${server.issuer.url}/../x` })
    expectRefused(await exchange(token), 401, 'invalid_token', token)
  })

  it('16 refuses an iss that is a prefix of the trusted one: 401', async () => {
    const token = await mint({ issuer: server.issuer.url.slice(0, -1) })
    expectRefused(await exchange(token), 401, 'invalid_token', token)
  })

  it('16b refuses the same issuer spelled with localhost instead of 127.0.0.1: 401', async () => {
    const token = await mint({ issuer: server.issuer.url.replace('127.0.0.1', 'localhost') })
    expectRefused(await exchange(token), 401, 'invalid_token', token)
  })

  it('17 refuses an untrusted issuer with a valid discovery document and JWKS: 401', async () => {
    const token = await untrusted.mint({ audience: server.url, claims: githubClaims(ACME) })
    expectRefused(await exchange(token), 401, 'invalid_token', token)
  })

  it("18 refuses the server's own access token fed back as an OIDC token: 401", async () => {
    const own = (await exchange(await mint())).body.access_token as string
    expect(own.split('.')).toHaveLength(3)
    const res = await exchange(own)
    expectRefused(res, 401, 'invalid_token', own)
    expect(res.body.error_description).toMatch(/issued by this server/)
  })
})

describe('audience', () => {
  it('19 refuses a token for another audience: 401', async () => {
    const token = await mint({ audience: 'https://idp.example.com' })
    expectRefused(await exchange(token), 401, 'invalid_token', token)
  })

  it('20 refuses a look-alike audience "<PUBLIC_URL>.evil.com": 401', async () => {
    const token = await mint({ audience: `${server.url}.evil.com` })
    expectRefused(await exchange(token), 401, 'invalid_token', token)
  })

  it('21 refuses an audience array with a stranger next to the right audience: 401', async () => {
    const token = await mint({ audience: [server.url, 'https://evil.example.com'] })
    expectRefused(await exchange(token), 401, 'invalid_token', token)
  })

  it('22 refuses an agent-audience token at federate: 401 (Protocol B envelope)', async () => {
    const token = await mint()
    expectRefused(await federate(token), 401, 'invalid_token', token)
  })

  it('23 refuses a federate-audience token at the agent exchange: 401', async () => {
    const token = await mint({ audience: 'persql' })
    expectRefused(await exchange(token), 401, 'invalid_token', token)
  })

  it('24 refuses our own access token at federate: 401', async () => {
    const own = (await exchange(await mint())).body.access_token as string
    expectRefused(await federate(own), 401, 'invalid_token', own)
  })
})

describe('repository and identity', () => {
  it.each([
    ['25', 'suffix', 'acme/widgets-evil'],
    ['26', 'prefix', 'acme/widget'],
    ['27', 'owner swap', 'widgets/acme'],
    ['28', 'other owner', 'evil/widgets']
  ])('%s refuses a repository %s (%s): 403 trust_policy_violation', async (_n, _kind, repository) => {
    const token = await mint({}, { repository, repositoryId: '55555', ownerId: '66666' })
    expectRefused(await exchange(token), 403, 'trust_policy_violation', token)
  })

  it('29 refuses a deleted-and-recreated repository (same name, new id): 403 trust_policy_violation', async () => {
    const token = await mint({}, { ...ACME, repositoryId: '999999999' })
    const res = await exchange(token)
    expectRefused(res, 403, 'trust_policy_violation', token)
    expect(res.body.error_description).toContain(`policy ${bootstrapPolicyId} pins repository_id "${ACME.repositoryId}" but the token's repository_id is "999999999"`)
  })

  it('30 refuses the repository transferred to another owner id: 403 trust_policy_violation', async () => {
    const token = await mint({}, { ...ACME, ownerId: '77777' })
    expectRefused(await exchange(token), 403, 'trust_policy_violation', token)
  })

  it('31 refuses a non-numeric repository_id claim: 401', async () => {
    const token = await mint({ claims: { ...githubClaims(ACME), repository_id: '123456789 OR 1=1' } })
    expectRefused(await exchange(token), 401, 'invalid_token', token)
  })
})

describe('branch and event', () => {
  it('32 refuses a branch that starts with the allowed one (main-evil): 403 branch_not_permitted', async () => {
    const token = await mint({}, { ...ACME, ref: 'refs/heads/main-evil' })
    const res = await exchange(token)
    expectRefused(res, 403, 'branch_not_permitted', token)
    expect(res.body.error_description).toBe(`policy ${bootstrapPolicyId} allows branch "main" (ref "refs/heads/main") but the token's ref is "refs/heads/main-evil"`)
  })

  it('33 refuses a tag named like the branch (refs/tags/main): 403 branch_not_permitted', async () => {
    const token = await mint({}, { ...ACME, ref: 'refs/tags/main' })
    expectRefused(await exchange(token), 403, 'branch_not_permitted', token)
  })

  it('34 refuses a pull-request merge ref (refs/pull/7/merge): 403 branch_not_permitted', async () => {
    const token = await mint({}, { ...ACME, ref: 'refs/pull/7/merge', eventName: 'pull_request' })
    expectRefused(await exchange(token), 403, 'branch_not_permitted', token)
  })

  it('35 refuses pull_request_target on the base branch without opt-in: 403 event_not_permitted', async () => {
    const token = await mint({}, { ...ACME, ref: 'refs/heads/main', eventName: 'pull_request_target' })
    expectRefused(await exchange(token), 403, 'event_not_permitted', token)
  })

  it('36 refuses workflow_run without opt-in: 403 event_not_permitted', async () => {
    const token = await mint({}, { ...ACME, eventName: 'workflow_run' })
    expectRefused(await exchange(token), 403, 'event_not_permitted', token)
  })

  it('37 refuses pull_request_target at federate when FEDERATE_EVENTS does not list it: 403 event_not_permitted', async () => {
    const token = await server.issuer.mint({ audience: 'persql', claims: githubClaims({ ...ACME, eventName: 'pull_request_target' }) })
    expectRefused(await federate(token), 403, 'event_not_permitted', token)
  })
})

describe('malformed requests', () => {
  it('38 refuses a token that is not three base64url segments: 400 invalid_request', async () => {
    const token = 'eyJhbGciOiJSUzI1NiJ9.eyJpc3MiOiJ4In0'
    expectRefused(await exchange(token), 400, 'invalid_request', token)
  })

  it('39 refuses a non-JWT bearer at federate: 400 invalid_request (Protocol B envelope)', async () => {
    expectRefused(await federate('not-a-jwt'), 400, 'invalid_request')
  })

  it('40 refuses a huge token in the body (40 KB, under the body cap): 400 invalid_request', async () => {
    const token = `${b64({ alg: 'RS256', kid: server.issuer.keyId })}.${'A'.repeat(40_000)}.${'B'.repeat(342)}`
    expectRefused(await exchange(token), 400, 'invalid_request', token)
  })

  it('41 refuses a 4 MiB body: 413', async () => {
    const raw = JSON.stringify({ provider: 'github', token: 'x'.repeat(4 * 1024 * 1024) })
    const res = await call(server.url, 'POST', AGENT_PATH, { raw, headers: { 'content-type': 'application/json' } })
    expectRefused(res, 413, 'invalid_request')
  })

  it('42 refuses broken JSON: 400 invalid_request', async () => {
    const res = await call(server.url, 'POST', AGENT_PATH, { raw: '{"provider": "github", "token": ', headers: { 'content-type': 'application/json' } })
    expectRefused(res, 400, 'invalid_request')
  })

  it('43 refuses an agentId that is not a UUID: 400 invalid_request', async () => {
    const token = await mint()
    expectRefused(await exchange(token, { agentId: "1' OR '1'='1" }), 400, 'invalid_request', token)
  })

  it('44 refuses a token that is a JSON array instead of a string: 400 invalid_request', async () => {
    const res = await call(server.url, 'POST', AGENT_PATH, { body: { provider: 'github', token: [await mint()] } })
    expectRefused(res, 400, 'invalid_request')
  })

  it('45 refuses an unknown provider: 400 invalid_request', async () => {
    const token = await mint()
    expectRefused(await exchange(token, { provider: 'gitlab' }), 400, 'invalid_request', token)
  })

  it('46 refuses an unknown field smuggled next to the token: 400 invalid_request', async () => {
    const token = await mint()
    expectRefused(await exchange(token, { repository: 'acme/widgets' }), 400, 'invalid_request', token)
  })
})

describe('explain', () => {
  it('47 refuses a crafted token at explain (401, or 503 while the JWKS refetch is held back), issuing nothing', async () => {
    const token = await mint({ privateKey: attacker.privateKey, header: { kid: attacker.kid } })
    sentTokens.push(token)
    const res = await call(server.url, 'POST', '/api/v1/oidc/explain', { body: { provider: 'github', token } })
    expectUnknownKidRefused(res, token)
  })

  it('48 explains a branch denial with the closest policy and both values, without the token', async () => {
    const token = await mint({}, { ...ACME, ref: 'refs/heads/dev' })
    sentTokens.push(token)
    refusedTokens.push(token)
    const res = await call(server.url, 'POST', '/api/v1/oidc/explain', { body: { provider: 'github', token } })
    expect(res.status).toBe(200)
    expect(res.body).toMatchObject({
      allowed: false,
      reason: `policy ${bootstrapPolicyId} allows branch "main" (ref "refs/heads/main") but the token's ref is "refs/heads/dev"`
    })
    expect(res.text).not.toContain(token)
  })
})

describe('audit', () => {
  it('49 audits every refusal that reached verification with the token SHA-256 and never stores a token', async () => {
    // Repeats of one kind of refusal are audited as one aggregate row with their token hashes.
    await server.context.denials.flush()
    const res = await call(server.url, 'GET', '/api/v1/audit', { token: ADMIN_TOKEN })
    expect(res.status).toBe(200)
    const items = res.body.items as Array<{ action: string; detail: Record<string, unknown> }>
    const hashes = new Set(items.flatMap((item) => [item.detail?.tokenSha256, ...((item.detail?.tokenSha256s as string[] | undefined) ?? [])]))
    expect(refusedTokens.length).toBeGreaterThanOrEqual(35)
    // An aggregate row keeps a bounded sample of its repeats' hashes (20): a refusal whose hash
    // is absent must be one its aggregate counted beyond the sample (the 22 unknown-kid refusals
    // of 04, 05 and 50 are one kind).
    const unsampled = items.reduce((sum, item) => {
      if (!item.detail?.aggregated) return sum
      return sum + Math.max(0, (item.detail.count as number) - ((item.detail.tokenSha256s as string[] | undefined)?.length ?? 0))
    }, 0)
    const missing = refusedTokens.filter((token) => !hashes.has(sha256(token)))
    expect(missing.length).toBeLessThanOrEqual(unsampled)
    expect(missing.length).toBeLessThanOrEqual(2)
    const denied = items.filter((item) => item.detail?.outcome === 'denied')
    const deniedCount = denied.reduce((sum, item) => sum + 1 + ((item.detail?.count as number | undefined) ?? 0) - (item.detail?.aggregated ? 1 : 0), 0)
    expect(deniedCount).toBeGreaterThanOrEqual(refusedTokens.length - 1) // explain (48) is audited as an explanation
    for (const token of sentTokens) {
      expect(res.text).not.toContain(token)
      const signature = token.split('.')[2]
      if (signature && signature.length > 16) expect(res.text).not.toContain(signature)
    }
  })
})

describeStartsProcess('server process logs', () => {
  it('52 a server process at LOG_LEVEL=trace logs crafted and valid tokens nowhere (SHA-256 at most)', async () => {
    const issuer = await LocalOidcIssuer.start()
    const proc = await startServerProcess({ issuerUrl: issuer.url, env: { LOG_LEVEL: 'trace' } })
    try {
      const admin = { authorization: `Bearer ${proc.adminToken}` }
      const created = await call(proc.url, 'POST', '/api/v1/oidc/trust-policies', {
        body: { provider: 'github', repository: ACME.repository, branch: 'main' },
        headers: admin
      })
      expect(created.status).toBe(201)
      const valid = await issuer.mint({ audience: proc.url, claims: githubClaims(ACME) })
      const tokens = [
        valid,
        await issuer.mint({ audience: proc.url, claims: githubClaims({ ...ACME, ref: 'refs/heads/dev' }) }),
        await issuer.mint({ audience: 'persql', claims: githubClaims(ACME) }),
        await issuer.mint({ audience: proc.url, claims: githubClaims(ACME), privateKey: attacker.privateKey, header: { kid: attacker.kid } }),
        `${b64({ alg: 'none' })}.${valid.split('.')[1]}.`
      ]
      const statuses: number[] = []
      const issued: string[] = []
      for (const token of tokens) {
        const res = await call(proc.url, 'POST', AGENT_PATH, { body: { provider: 'github', token } })
        statuses.push(res.status)
        if (res.body?.access_token) issued.push(res.body.access_token as string)
      }
      statuses.push((await call(proc.url, 'POST', FEDERATE_PATH, { token: tokens[2] })).status)
      // The unknown kid right after the keys loaded: 503 while the refetch is held back (finding 11).
      expect([401, 503]).toContain(statuses[3])
      expect([...statuses.slice(0, 3), ...statuses.slice(4)]).toEqual([200, 403, 401, 401, 201])
      // The requests' log lines arrive after their answers: wait for the last one (federate's).
      await waitFor(() => /"route":"\/v1\/identity\/federate"/.test(proc.output()), { timeoutMs: 10_000, what: "federate's request in the server log" })
      const log = proc.output()
      expect(log.match(/"route":"\/api\/v1\/oidc\/token"/g)?.length).toBe(5) // the requests were logged
      for (const secret of [...tokens, ...issued, proc.adminToken]) {
        expect(log).not.toContain(secret)
        const signature = secret.split('.')[2]
        if (signature && signature.length > 16) expect(log).not.toContain(signature)
      }
    } finally {
      await proc.stop()
      await issuer.close()
    }
  })
})
