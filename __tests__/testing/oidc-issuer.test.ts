import { afterAll, beforeAll, describe, expect, it } from '@jest/globals'
import { createRemoteJWKSet, jwtVerify } from 'jose'
import { LocalOidcIssuer } from '../../shared/testing/oidc-issuer'

describe('local OIDC issuer', () => {
  let issuer: LocalOidcIssuer
  beforeAll(async () => {
    issuer = await LocalOidcIssuer.start()
  })
  afterAll(() => issuer.close())

  it('answers the runner endpoint with a token that verifies against its discovered JWKS', async () => {
    const res = await fetch(`${issuer.requestUrl}&audience=persql`, {
      headers: { authorization: `Bearer ${issuer.requestToken}` }
    })
    const { value } = (await res.json()) as { value: string }
    const discovery = (await (await fetch(`${issuer.url}/.well-known/openid-configuration`)).json()) as { jwks_uri: string }
    const { payload } = await jwtVerify(value, createRemoteJWKSet(new URL(discovery.jwks_uri)), {
      issuer: issuer.url,
      audience: 'persql'
    })
    expect(payload.repository).toBe('acme/widgets')
    expect(payload.sub).toBe('repo:acme/widgets:ref:refs/heads/main')
    expect((payload.exp ?? 0) - (payload.iat ?? 0)).toBe(300)
  })

  it('refuses the runner endpoint without the request bearer', async () => {
    const res = await fetch(`${issuer.requestUrl}&audience=x`)
    expect(res.status).toBe(401)
  })
})
