/**
 * Finding 13: the `repository` claim's characters were never checked, so `acme/\u212Aey`
 * (KELVIN SIGN, which lower-cases to ASCII "k") matched a trust policy for `acme/key`
 * through Unicode case folding (JS toLowerCase, the database's lower()).
 *
 * Now: `repository` and `repository_owner` must be in GitHub's character set (401
 * invalid_token naming the claim), names are compared with ASCII-only case folding, and a
 * trust policy outside that set is refused (400).
 */
import { beforeAll, describe, expect, it } from '@jest/globals'
import { githubClaims } from '../../shared/testing/oidc-issuer'
import { decide, type TrustPolicy } from '../../shared/server/oidc/policy'
import type { GitHubTokenClaims } from '../../shared/server/oidc/claims'
import { givenBootstrapPolicy, useTestServer } from '../server/helpers'

const KELVIN = '\u212A' // "K", KELVIN SIGN: "\u212A".toLowerCase() === "k"

const { server, client: c } = useTestServer()
beforeAll(async () => {
  await givenBootstrapPolicy(server, { repository: 'acme/key', repositoryId: '31337', ownerId: '4242' })
  await givenBootstrapPolicy(server, { repository: 'Acme/Widgets', repositoryId: '123456789', ownerId: '4242' })
})

async function exchange(claims: Record<string, unknown>, path = '/api/v1/oidc/token') {
  const token = await server.issuer.mint({ audience: server.url, claims })
  return c.api('POST', path, { body: { provider: 'github', token } })
}

describe('finding 13: repository names are GitHub names, folded in ASCII only', () => {
  it('finding-13: a token for acme/\\u212Aey (Kelvin sign) is refused with 401 naming the repository claim, at exchange and explain', async () => {
    const claims = { ...githubClaims({ repository: `acme/${KELVIN}ey`, repositoryId: '31337', ownerId: '4242' }), repository_owner: 'acme' }
    for (const path of ['/api/v1/oidc/token', '/api/v1/oidc/explain']) {
      const res = await exchange(claims, path)
      expect(res.status).toBe(401)
      expect(res.body.error).toBe('invalid_token')
      expect(res.body.error_description).toContain('"repository"')
      expect(res.body.access_token).toBeUndefined()
    }
  })

  it('finding-13: a non-ASCII repository_owner claim is refused with 401 naming it', async () => {
    const claims = { ...githubClaims({ repository: 'acme/key', repositoryId: '31337', ownerId: '4242' }), repository_owner: `acme${KELVIN}` }
    const res = await exchange(claims)
    expect(res.status).toBe(401)
    expect(res.body.error).toBe('invalid_token')
    expect(res.body.error_description).toContain('"repository_owner"')
  })

  it('finding-13: other characters outside GitHub\'s set are refused (two slashes, spaces, fullwidth letters, leading hyphen, "..")', async () => {
    for (const repository of ['acme/key/x', 'acme/ke y', 'acme/\uFF4Bey', '-acme/key', 'acme/..', 'acme', `acme/${'k'.repeat(101)}`, `${'a'.repeat(40)}/key`]) {
      const res = await exchange({ ...githubClaims({ repository, repositoryId: '31337', ownerId: '4242' }), repository_owner: 'acme' })
      expect({ repository, status: res.status, error: res.body.error }).toEqual({ repository, status: 401, error: 'invalid_token' })
    }
  })

  it('finding-13: the policy decision folds ASCII case only (Kelvin sign does not match acme/key; Acme/Widgets matches acme/widgets)', () => {
    const base = githubClaims({ repository: 'acme/key', repositoryId: '31337', ownerId: '4242' })
    const iss = 'https://token.actions.githubusercontent.com'
    const policy = (repository: string): TrustPolicy => ({ id: 'p1', provider: 'github', issuer: iss, repository, createdAt: new Date(0).toISOString() })
    const claims = (repository: string): GitHubTokenClaims => ({ ...base, iss, aud: 'x', iat: 0, exp: 0, nbf: 0, repository })
    expect(decide(claims(`acme/${KELVIN}ey`), [policy('acme/key')], undefined).allowed).toBe(false)
    expect(decide(claims('acme/key'), [policy(`acme/${KELVIN}ey`)], undefined).allowed).toBe(false)
    // Other characters with non-ASCII case mappings: dotted capital I, long s.
    expect(decide(claims('acme/\u0130nfo'), [policy('acme/info')], undefined).allowed).toBe(false)
    expect(decide(claims('acme/\u017Fite'), [policy('acme/Site')], undefined).allowed).toBe(false)
    expect(decide(claims('acme/widgets'), [policy('Acme/Widgets')], undefined).allowed).toBe(true)
    expect(decide(claims('ACME/WIDGETS'), [policy('acme/widgets')], undefined).allowed).toBe(true)
  })

  it('finding-13: a trust policy with a non-ASCII repository is refused with 400', async () => {
    for (const repository of [`acme/${KELVIN}ey`, `acme${KELVIN}/key`, 'acme/caf\u00e9', 'acme/\uFF4Bey']) {
      const res = await c.admin('POST', '/api/v1/oidc/trust-policies', { provider: 'github', repository })
      expect({ repository, status: res.status, error: res.body.error }).toEqual({ repository, status: 400, error: 'invalid_request' })
      expect(res.body.error_description).toContain('repository')
    }
  })

  it('finding-13: ASCII case-insensitivity still works: a policy for Acme/Widgets admits a token of acme/widgets', async () => {
    const res = await exchange(githubClaims({ repository: 'acme/widgets', repositoryId: '123456789', ownerId: '4242' }))
    expect(res.status).toBe(200)
    expect(res.body.access_token).toEqual(expect.any(String))
  })
})
