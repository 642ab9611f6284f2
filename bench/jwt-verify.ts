/**
 * Cost of verifying a GitHub OIDC token: the full OidcVerifier.verify path (shape, issuer,
 * alg, cached key by kid, node:crypto RS256 signature + jose time checks, audience, GitHub claims) next
 * to a bare jose jwtVerify with the same key, jose RS256 signing (what the issuer does), and
 * two refusal paths. Keys come from a LocalOidcIssuer on 127.0.0.1 (fetched once).
 * `npx tsx bench/jwt-verify.ts [seconds]`
 */
import { SignJWT, importJWK, jwtVerify, type CryptoKey } from 'jose'
import { OidcVerifier } from '../shared/server/oidc/verifier'
import { LocalOidcIssuer } from '../shared/testing/oidc-issuer'
import { opRate } from './lib/op-rate'

async function main(): Promise<void> {
  const seconds = Number(process.argv[2] ?? 2)
  const audience = 'https://idp.example.com'
  const issuer = await LocalOidcIssuer.start()
  try {
    const verifier = new OidcVerifier({ issuers: [issuer.url] })
    const token = await issuer.mint({ audience })
    const untrusted = await issuer.mint({ audience, issuer: `${issuer.url}.evil.com` })
    const wrongAudience = await issuer.mint({ audience: 'persql' })
    const key = (await importJWK(issuer.publicKeyJwk, 'RS256')) as CryptoKey
    const { payload } = await jwtVerify(token, key)
    console.log(`node ${process.version}, ${seconds} s per figure, RSA 2048`)
    await opRate('jose SignJWT RS256 (issuer side)', seconds, () => issuer.mint({ audience }))
    await opRate('jose SignJWT RS256 (bare)', seconds, () =>
      new SignJWT(payload).setProtectedHeader({ alg: 'RS256', kid: issuer.keyId }).sign((issuer as unknown as { privateKey: CryptoKey }).privateKey)
    )
    await opRate('jose jwtVerify RS256 (bare, key in hand)', seconds, () => jwtVerify(token, key, { algorithms: ['RS256'], audience }))
    await opRate('OidcVerifier.verify (full path, cached JWKS)', seconds, () => verifier.verify(token, audience))
    await opRate('OidcVerifier.verify refusing an untrusted iss', seconds, () => verifier.verify(untrusted, audience).catch(() => undefined))
    await opRate('OidcVerifier.verify refusing a wrong audience', seconds, () => verifier.verify(wrongAudience, audience).catch(() => undefined))
    console.log(`JWKS fetches during the whole run: ${issuer.jwksFetches}`)
  } finally {
    await issuer.close()
  }
}

await main()
