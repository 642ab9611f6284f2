/**
 * The bench harness itself: the pre-minted tokens are distinct and verify against their
 * issuer's JWKS (as the server will check them), and the load generator sends each token
 * exactly once. No timings are asserted here.
 */
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals'
import { createRemoteJWKSet, decodeJwt, jwtVerify } from 'jose'
import { TokenMinter } from '../../bench/lib/minter'
import { runLoad } from '../../bench/lib/load'
import { median } from '../../bench/lib/stats'

describe('bench token minter', () => {
  let minter: TokenMinter

  beforeAll(async () => {
    minter = await TokenMinter.start(2)
  })
  afterAll(() => minter.close())

  it('mints distinct tokens, in every process, that all verify as tokens of one issuer (the server binds identities to it)', async () => {
    const identity = { repository: 'bench/smoke', repositoryId: '900', ownerId: '9' }
    const tokens = await minter.mint({ count: 11, audience: 'http://127.0.0.1:1', identity })
    expect(tokens).toHaveLength(11)
    expect(new Set(tokens).size).toBe(11)
    const issuers = new Set<string>()
    const jtis = new Set<unknown>()
    for (const token of tokens) {
      const iss = decodeJwt(token).iss!
      expect(minter.issuerUrls).toContain(iss)
      const { payload } = await jwtVerify(token, createRemoteJWKSet(new URL(`${iss}/.well-known/jwks`)), {
        issuer: iss,
        audience: 'http://127.0.0.1:1',
        algorithms: ['RS256']
      })
      expect(payload.repository).toBe('bench/smoke')
      expect(payload.iat! - payload.nbf!).toBe(600)
      expect(payload.exp! - payload.iat!).toBe(900)
      issuers.add(iss)
      jtis.add(payload.jti)
    }
    expect(minter.issuerUrls).toHaveLength(1)
    expect(issuers.size).toBe(1)
    expect(jtis.size).toBe(11)
  })

  it('gives every token its own repository for sign-ups, across calls', async () => {
    const identity = { repository: 'bench/signup', repositoryId: '1000', ownerId: '9' }
    const first = await minter.mint({ count: 5, audience: 'persql', identity, distinctRepositories: true })
    const second = await minter.mint({ count: 5, audience: 'persql', identity, distinctRepositories: true })
    const claims = [...first, ...second].map((t) => decodeJwt(t))
    expect(new Set(claims.map((c) => c.repository_id)).size).toBe(10)
    expect(new Set(claims.map((c) => c.repository)).size).toBe(10)
  })
})

describe('bench load generator', () => {
  let server: Server
  let url: string
  const seen: string[] = []

  beforeAll(async () => {
    server = createServer((req, res) => {
      let body = ''
      req.on('data', (c: Buffer) => (body += c.toString('utf8')))
      req.on('end', () => {
        seen.push(body || String(req.headers.authorization))
        const status = seen.length % 10 === 0 ? 403 : 200
        res.writeHead(status, { 'content-type': 'application/json' }).end('{}')
      })
    })
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  })
  afterAll(async () => {
    server.closeAllConnections()
    await new Promise<void>((resolve) => server.close(() => resolve()))
  })

  it('sends each body once, in a separate process, and counts non-2xx answers', async () => {
    seen.length = 0
    const bodies = Array.from({ length: 60 + 2 * 4 }, (_, i) => JSON.stringify({ n: i }))
    const result = await runLoad({ url, path: '/x', connections: 4, amount: 60, bodies })
    expect(result.requests).toBe(60)
    expect(seen).toHaveLength(60)
    expect(new Set(seen).size).toBe(60)
    expect(result.reusedTokens).toBe(0)
    expect(result.non2xx).toBe(6)
    expect(result.statuses['403']).toBe(6)
  })

  it('sends bearer tokens in the Authorization header when there is no body', async () => {
    seen.length = 0
    const bearerTokens = Array.from({ length: 20 + 2 }, (_, i) => `token-${i}`)
    const result = await runLoad({ url, path: '/x', connections: 1, amount: 20, bearerTokens })
    expect(result.requests).toBe(20)
    expect(new Set(seen).size).toBe(20)
    expect(seen.every((h) => /^Bearer token-\d+$/.test(h))).toBe(true)
  })
})

describe('bench statistics', () => {
  it('takes the median of odd and even counts', () => {
    expect(median([3, 1, 2])).toBe(2)
    expect(median([4, 1, 3, 2])).toBe(2.5)
    expect(median([])).toBeNaN()
  })
})
