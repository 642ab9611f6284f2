/**
 * Sign and verify rates of jose and fast-jwt for the algorithms the server could use for
 * its own tokens (RS256, ES256, EdDSA). Prints ops/s; `npx tsx bench/jwt-libs.ts [seconds]`.
 * Both libraries get the same keys and claims; fast-jwt's verify cache is off (every call
 * verifies the signature, like jose).
 */
import { generateKeyPairSync, randomUUID, type KeyObject } from 'node:crypto'
import { createSigner, createVerifier } from 'fast-jwt'
import { SignJWT, generateKeyPair, jwtVerify } from 'jose'
import { opRate } from './lib/op-rate'

type Alg = 'RS256' | 'ES256' | 'EdDSA'

function keys(alg: Alg): { privateKey: KeyObject; publicKey: KeyObject } {
  if (alg === 'RS256') return generateKeyPairSync('rsa', { modulusLength: 2048 })
  if (alg === 'ES256') return generateKeyPairSync('ec', { namedCurve: 'P-256' })
  return generateKeyPairSync('ed25519')
}

async function main(): Promise<void> {
  const seconds = Number(process.argv[2] ?? 1)
  const claims = { sub: randomUUID(), scope: 'agent', iss: 'https://idp.example.com', aud: 'https://idp.example.com' }
  console.log(`node ${process.version}, ${seconds} s per figure`)
  for (const alg of ['RS256', 'ES256', 'EdDSA'] as const) {
    const { privateKey, publicKey } = keys(alg)
    const privatePem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString()
    const publicPem = publicKey.export({ type: 'spki', format: 'pem' }).toString()
    const joseSign = (): Promise<string> =>
      new SignJWT({ ...claims, jti: randomUUID() }).setProtectedHeader({ alg, kid: 'k1' }).setIssuedAt().setExpirationTime('15m').sign(privateKey)
    const fastSigner = createSigner({ key: privatePem, algorithm: alg, expiresIn: 900_000, kid: 'k1' })
    const fastSign = (): string => fastSigner({ ...claims, jti: randomUUID() })
    const token = await joseSign()
    const fastVerifier = createVerifier({ key: publicPem, algorithms: [alg], cache: false, allowedIss: claims.iss, allowedAud: claims.aud })
    const joseVerify = () => jwtVerify(token, publicKey, { algorithms: [alg], issuer: claims.iss, audience: claims.aud })
    // Cross-check: each library verifies the other's tokens.
    fastVerifier(token)
    await jwtVerify(fastSign(), publicKey, { algorithms: [alg] })

    // What the server does: WebCrypto CryptoKeys (imported once) instead of KeyObjects.
    const crypto = await generateKeyPair(alg, { crv: alg === 'EdDSA' ? 'Ed25519' : undefined })
    const cryptoToken = await new SignJWT({ ...claims, jti: randomUUID() }).setProtectedHeader({ alg }).setIssuedAt().setExpirationTime('15m').sign(crypto.privateKey)

    await opRate(`jose     ${alg} sign`, seconds, joseSign)
    await opRate(`jose     ${alg} sign (CryptoKey)`, seconds, () =>
      new SignJWT({ ...claims, jti: randomUUID() }).setProtectedHeader({ alg }).setIssuedAt().setExpirationTime('15m').sign(crypto.privateKey)
    )
    await opRate(`fast-jwt ${alg} sign`, seconds, fastSign)
    await opRate(`jose     ${alg} verify`, seconds, joseVerify)
    await opRate(`jose     ${alg} verify (CryptoKey)`, seconds, () =>
      jwtVerify(cryptoToken, crypto.publicKey, { algorithms: [alg], issuer: claims.iss, audience: claims.aud })
    )
    await opRate(`fast-jwt ${alg} verify`, seconds, () => fastVerifier(token))
  }
}

main().catch((error: unknown) => {
  console.error(error)
  process.exit(1)
})
