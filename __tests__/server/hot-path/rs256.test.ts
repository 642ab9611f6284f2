/**
 * rs256.ts: the signature by node:crypto, everything else by jose. Every case is also run
 * through jose's own jwtVerify, and both must agree (same payload, or the same error class).
 */
import { describe, expect, it } from '@jest/globals'
import { createPublicKey, generateKeyPairSync, sign as rsaSign, type KeyObject } from 'node:crypto'
import { SignJWT, decodeProtectedHeader, errors, jwtVerify, type JWTClaimVerificationOptions } from 'jose'
import { verifyRs256Jwt } from '../../../shared/server/oidc/rs256'

const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 })
const otherRsa = generateKeyPairSync('rsa', { modulusLength: 2048 })
const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' })
const now = Math.floor(Date.now() / 1000)
const options: JWTClaimVerificationOptions = {
  issuer: 'https://issuer.example',
  audience: 'https://aud.example',
  requiredClaims: ['exp', 'iat', 'nbf'],
  clockTolerance: 60,
  maxTokenAge: 360
}
const claims = { iss: 'https://issuer.example', aud: 'https://aud.example', sub: 'repo:a/b:ref:refs/heads/main', iat: now, nbf: now, exp: now + 300 }

const sign = (payload: Record<string, unknown>, header: Record<string, unknown> = {}, key = rsa.privateKey): Promise<string> =>
  new SignJWT(payload).setProtectedHeader({ alg: 'RS256', kid: 'k1', ...header }).sign(key)

/** jose will not sign a header it would refuse; node:crypto will. */
function signRaw(payload: Record<string, unknown>, header: Record<string, unknown>): string {
  const b64 = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString('base64url')
  const input = `${b64({ alg: 'RS256', kid: 'k1', ...header })}.${b64(payload)}`
  return `${input}.${rsaSign('sha256', Buffer.from(input), rsa.privateKey).toString('base64url')}`
}

function ours(token: string, key: KeyObject = rsa.publicKey): unknown {
  try {
    return verifyRs256Jwt(token, decodeProtectedHeader(token), key, options)
  } catch (error) {
    return error
  }
}

async function jose(token: string, key: KeyObject = rsa.publicKey): Promise<unknown> {
  try {
    return (await jwtVerify(token, key, { ...options, algorithms: ['RS256'] })).payload
  } catch (error) {
    return error
  }
}

const tamper = (token: string): string => {
  const [h, , s] = token.split('.')
  return `${h}.${Buffer.from(JSON.stringify({ ...claims, sub: 'repo:evil/b:ref:refs/heads/main' })).toString('base64url')}.${s}`
}

describe('verifyRs256Jwt', () => {
  it('returns the payload of a valid token, as jose does', async () => {
    for (const token of [await sign(claims), signRaw(claims, { typ: 'JWT' })]) {
      expect(ours(token)).toEqual(claims)
      expect(ours(token)).toEqual(await jose(token))
    }
  })

  const refusals: Array<[string, () => Promise<string>, new (...args: never[]) => Error, KeyObject?]> = [
    ['a tampered payload', async () => tamper(await sign(claims)), errors.JWSSignatureVerificationFailed],
    ['a signature by another key', () => sign(claims, {}, otherRsa.privateKey), errors.JWSSignatureVerificationFailed],
    ['an empty signature', async () => (await sign(claims)).replace(/\.[^.]+$/, '.'), errors.JWSSignatureVerificationFailed],
    ['an expired token', () => sign({ ...claims, iat: now - 400, nbf: now - 400, exp: now - 100 }), errors.JWTExpired],
    ['a token issued too long ago', () => sign({ ...claims, iat: now - 1000, nbf: now - 1000 }), errors.JWTExpired],
    ['a token not valid yet', () => sign({ ...claims, nbf: now + 600 }), errors.JWTClaimValidationFailed],
    ['a wrong audience', () => sign({ ...claims, aud: 'https://other.example' }), errors.JWTClaimValidationFailed],
    ['a wrong issuer', () => sign({ ...claims, iss: 'https://issuer.example.evil' }), errors.JWTClaimValidationFailed],
    ['no nbf', () => sign({ ...claims, nbf: undefined }), errors.JWTClaimValidationFailed],
    ['an unknown critical header', async () => signRaw(claims, { crit: ['x-evil'], 'x-evil': 1 }), errors.JOSENotSupported]
  ]
  for (const [name, make, errorClass] of refusals) {
    it(`refuses ${name}, with the error class jose uses`, async () => {
      const token = await make()
      const error = ours(token)
      expect(error).toBeInstanceOf(errorClass)
      expect(await jose(token)).toBeInstanceOf(errorClass)
    })
  }

  it('refuses any alg but RS256, whatever the token says', async () => {
    const token = await sign(claims)
    expect(() => verifyRs256Jwt(token, { alg: 'HS256' }, rsa.publicKey, options)).toThrow(errors.JOSEAlgNotAllowed)
  })

  it('refuses a non-RSA or private key: no algorithm confusion through the key', async () => {
    const token = await sign(claims)
    expect(() => verifyRs256Jwt(token, { alg: 'RS256' }, ec.publicKey, options)).toThrow(TypeError)
    expect(() => verifyRs256Jwt(token, { alg: 'RS256' }, createPublicKey(rsa.privateKey), options)).not.toThrow()
    expect(() => verifyRs256Jwt(token, { alg: 'RS256' }, rsa.privateKey, options)).toThrow(TypeError)
  })

  it('refuses a token with more than three segments', async () => {
    const token = `${await sign(claims)}.extra`
    expect(() => verifyRs256Jwt(token, { alg: 'RS256' }, rsa.publicKey, options)).toThrow(errors.JWSInvalid)
  })
})
