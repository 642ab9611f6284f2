/**
 * The decision on OIDC token replay (docs/security.md, "Replay of an OIDC token"): a token
 * may be exchanged more than once within its short life (the actions retry an exchange whose
 * answer was lost), and every use is audited with the token's SHA-256, so a replay is visible.
 */
import { beforeAll, describe, expect, it } from '@jest/globals'
import { createHash } from 'node:crypto'
import { githubClaims } from '../../shared/testing/oidc-issuer'
import { ACME, givenBootstrapPolicy, oidcToken, useTestServer } from '../server/helpers'

describe('OIDC token replay', () => {
  const { server, client: c } = useTestServer()
  beforeAll(() => givenBootstrapPolicy(server, ACME))

  it('a retried exchange with the same token succeeds, and both uses are audited under its SHA-256', async () => {
    const token = await oidcToken(server, server.url, ACME)
    const first = await c.api('POST', '/api/v1/oidc/token', { body: { provider: 'github', token } })
    const retry = await c.api('POST', '/api/v1/oidc/token', { body: { provider: 'github', token } })
    expect([first.status, retry.status]).toEqual([200, 200])
    expect(retry.body.access_token).not.toBe(first.body.access_token)
    const hash = createHash('sha256').update(token).digest('hex')
    const audit = await c.admin('GET', '/api/v1/audit')
    const uses = audit.body.items.filter((e: { detail: { tokenSha256?: string; outcome?: string } }) => e.detail.tokenSha256 === hash && e.detail.outcome === 'issued')
    expect(uses).toHaveLength(2)
  })

  it('a token older than the maximum age is refused even before it expires', async () => {
    // Still valid for an hour, but issued 8 minutes ago (past 6 minutes + 60 s tolerance): the replay window is the maximum age.
    const old = await server.issuer.mint({ audience: server.url, claims: githubClaims(ACME), issuedAt: Math.floor(Date.now() / 1000) - 8 * 60, lifetimeSeconds: 3600 })
    const res = await c.api('POST', '/api/v1/oidc/token', { body: { provider: 'github', token: old } })
    expect(res.status).toBe(401)
    expect(res.body.error_description).toMatch(/more than 360 s before/)
  })
})
