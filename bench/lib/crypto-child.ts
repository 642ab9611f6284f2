/**
 * The crypto-only reference, in its own process on one core: per "exchange", one RS256
 * verify of a GitHub-like OIDC token and one signature of a token like the server issues
 * (the server's SIGNING_ALG), in a tight loop. With node:crypto, and with jose (what the
 * server uses) for comparison. argv[2] = seconds per figure, argv[3] = repetitions.
 * Answers { nodeCrypto: number[], jose: number[] } (ops/s per repetition) over IPC.
 */
import { createPublicKey, generateKeyPairSync, randomUUID, sign, verify, type JsonWebKey, type KeyObject } from 'node:crypto'
import { SignJWT, generateKeyPair, importJWK, jwtVerify, type CryptoKey } from 'jose'
import { LocalOidcIssuer, githubClaims } from '../../shared/testing/oidc-issuer'
import { SIGNING_ALG } from '../../shared/server/keys'

const seconds = Number(process.argv[2] ?? 2)
const repetitions = Number(process.argv[3] ?? 3)

const issuer = await LocalOidcIssuer.start()
const audience = 'http://127.0.0.1:8080'
const oidcToken = await issuer.mint({ audience, claims: githubClaims({ repository: 'bench/exchange', repositoryId: '100', ownerId: '7' }) })
await issuer.close()
const rsaPublic = createPublicKey({ key: issuer.publicKeyJwk as JsonWebKey, format: 'jwk' })
const rsaPublicCrypto = (await importJWK(issuer.publicKeyJwk, 'RS256')) as CryptoKey

const own = ownKeys()
const [head, body, sig] = oidcToken.split('.') as [string, string, string]
const signingInput = Buffer.from(`${head}.${body}`)
const signature = Buffer.from(sig, 'base64url')
const issuedHeader = Buffer.from(JSON.stringify({ alg: SIGNING_ALG, kid: randomUUID(), typ: 'at+jwt' })).toString('base64url')

function issuedClaims(): Record<string, unknown> {
  const now = Math.floor(Date.now() / 1000)
  return { iss: audience, aud: audience, sub: randomUUID(), jti: randomUUID(), exp: now + 900, iat: now, scope: 'agent', repository: 'bench/exchange', repository_id: '100' }
}

function ownKeys(): { signOptions: KeyObject | { key: KeyObject; dsaEncoding: 'ieee-p1363' }; hash: string | null } {
  if (SIGNING_ALG === 'ES256') {
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' })
    return { signOptions: { key: privateKey, dsaEncoding: 'ieee-p1363' }, hash: 'sha256' }
  }
  if (SIGNING_ALG === 'EdDSA') {
    const { privateKey } = generateKeyPairSync('ed25519')
    return { signOptions: privateKey, hash: null }
  }
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 })
  return { signOptions: privateKey, hash: 'sha256' }
}

function nodeCryptoOnce(): void {
  if (!verify('sha256', signingInput, rsaPublic, signature)) throw new Error('reference token does not verify')
  const payload = Buffer.from(JSON.stringify(issuedClaims())).toString('base64url')
  sign(own.hash, Buffer.from(`${issuedHeader}.${payload}`), own.signOptions)
}

const { privateKey: joseOwn } = await generateKeyPair(SIGNING_ALG)

async function joseOnce(): Promise<void> {
  await jwtVerify(oidcToken, rsaPublicCrypto, { algorithms: ['RS256'], issuer: issuer.url, audience })
  await new SignJWT(issuedClaims()).setProtectedHeader({ alg: SIGNING_ALG, kid: 'k', typ: 'at+jwt' }).sign(joseOwn)
}

async function rate(op: () => unknown): Promise<number> {
  for (let i = 0; i < 200; i++) await op() // warm-up (JIT, OpenSSL caches)
  let count = 0
  const start = performance.now()
  const end = start + seconds * 1000
  while (performance.now() < end) {
    for (let i = 0; i < 25; i++) await op()
    count += 25
  }
  return count / ((performance.now() - start) / 1000)
}

const nodeCrypto: number[] = []
const jose: number[] = []
for (let r = 0; r < repetitions; r++) {
  nodeCrypto.push(await rate(nodeCryptoOnce))
  jose.push(await rate(joseOnce))
}
process.send!({ nodeCrypto, jose, alg: SIGNING_ALG }, () => process.exit(0))
