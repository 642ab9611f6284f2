/**
 * RS256 JWT verification with jose's rules at node:crypto's speed.
 *
 * jose checks signatures through WebCrypto, which in Node is a thread-pool round trip per
 * call; under exchange load the profile showed it as the largest cost after the database.
 * Here the signature (RSASSA-PKCS1-v1_5 with SHA-256, which is what RS256 is) is checked
 * synchronously by node:crypto, and everything else stays jose's: the crit and b64 header
 * rules, every claim check and their error classes. Once the signature holds, the token is
 * handed to jose's UnsecuredJWT.decode with its header's alg set to "none", which runs
 * exactly those checks and nothing else.
 */
import { verify, type KeyObject } from 'node:crypto'
import { UnsecuredJWT, errors, type JWTClaimVerificationOptions, type JWTPayload } from 'jose'

/**
 * @param header the token's decoded protected header (its alg must already be RS256)
 * @throws jose errors: JWSSignatureVerificationFailed, JWTClaimValidationFailed, JWTExpired, JWTInvalid...
 */
export function verifyRs256Jwt(token: string, header: Record<string, unknown>, key: KeyObject, options: JWTClaimVerificationOptions): JWTPayload {
  if (header.alg !== 'RS256') throw new errors.JOSEAlgNotAllowed('only RS256 is allowed')
  if (key.type !== 'public' || key.asymmetricKeyType !== 'rsa') throw new TypeError('RS256 needs an RSA public key')
  const [headerSegment, payloadSegment, signatureSegment, extra] = token.split('.')
  if (headerSegment === undefined || payloadSegment === undefined || signatureSegment === undefined || extra !== undefined) {
    throw new errors.JWSInvalid('Invalid Compact JWS')
  }
  const signingInput = Buffer.from(`${headerSegment}.${payloadSegment}`, 'ascii')
  if (!verify('sha256', signingInput, key, Buffer.from(signatureSegment, 'base64url'))) {
    throw new errors.JWSSignatureVerificationFailed()
  }
  const unsigned = `${Buffer.from(JSON.stringify({ ...header, alg: 'none' })).toString('base64url')}.${payloadSegment}.`
  return UnsecuredJWT.decode(unsigned, options).payload
}
