/**
 * Encryption at rest of the private signing keys (SIGNING_KEYS_SECRET): AES-256-GCM from
 * node:crypto, with a key derived by HKDF-SHA256 from the secret and a random salt of the
 * key's own, and a random 96-bit nonce. The key id is the additional authenticated data, so
 * a stored key cannot be moved to another row unnoticed. The stored form is a JSON object in
 * signing_keys.private_jwk:
 *
 *   {"enc":"A256GCM","kdf":"HKDF-SHA256","salt":"…","iv":"…","ciphertext":"…","tag":"…"}
 *
 * (base64url). HKDF, not a password hash: the secret is required to be random (32+
 * characters, e.g. `openssl rand -base64 32`), and a password hash would cost every start
 * tens of milliseconds per key.
 */
import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto'
import { ConfigError } from './config'

export interface EncryptedPrivateJwk {
  enc: 'A256GCM'
  kdf: 'HKDF-SHA256'
  salt: string
  iv: string
  ciphertext: string
  tag: string
}

/** HKDF "info": binds the derived key to this use (and to version 1 of the format). */
const INFO = Buffer.from('federate signing key encryption v1')
const TAG_BYTES = 16

/**
 * Thrown when stored keys cannot be decrypted: a missing or wrong secret, or an altered row.
 * A configuration error: the server does not start (exit code 2).
 */
export class SigningKeySecretError extends ConfigError {
  constructor(message: string) {
    super('SIGNING_KEYS_SECRET', message)
  }
}

export function isEncryptedPrivateJwk(value: unknown): value is EncryptedPrivateJwk {
  return typeof value === 'object' && value !== null && (value as { enc?: unknown }).enc === 'A256GCM'
}

function derivedKey(secret: string, salt: Buffer): Buffer {
  return Buffer.from(hkdfSync('sha256', Buffer.from(secret, 'utf8'), salt, INFO, 32))
}

/** Encrypts a private JWK for the row of key `kid`. */
export function encryptPrivateJwk(jwk: Record<string, unknown>, secret: string, kid: string): EncryptedPrivateJwk {
  const salt = randomBytes(16)
  const iv = randomBytes(12)
  const cipher = createCipheriv('aes-256-gcm', derivedKey(secret, salt), iv, { authTagLength: TAG_BYTES })
  cipher.setAAD(Buffer.from(kid, 'utf8'))
  const ciphertext = Buffer.concat([cipher.update(JSON.stringify(jwk), 'utf8'), cipher.final()])
  return {
    enc: 'A256GCM',
    kdf: 'HKDF-SHA256',
    salt: salt.toString('base64url'),
    iv: iv.toString('base64url'),
    ciphertext: ciphertext.toString('base64url'),
    tag: cipher.getAuthTag().toString('base64url')
  }
}

/** Decrypts what encryptPrivateJwk stored for `kid`; SigningKeySecretError when it cannot. */
export function decryptPrivateJwk(stored: EncryptedPrivateJwk, secret: string | undefined, kid: string): Record<string, unknown> {
  if (!secret) {
    throw new SigningKeySecretError(`is not set, but signing key ${kid} in the database is encrypted: set it to the secret the keys were encrypted with`)
  }
  try {
    if (stored.kdf !== 'HKDF-SHA256') throw new Error(`unknown key derivation ${String(stored.kdf)}`)
    // authTagLength: a truncated tag must not be accepted.
    const decipher = createDecipheriv('aes-256-gcm', derivedKey(secret, Buffer.from(stored.salt, 'base64url')), Buffer.from(stored.iv, 'base64url'), {
      authTagLength: TAG_BYTES
    })
    decipher.setAAD(Buffer.from(kid, 'utf8'))
    decipher.setAuthTag(Buffer.from(stored.tag, 'base64url'))
    const plain = Buffer.concat([decipher.update(Buffer.from(stored.ciphertext, 'base64url')), decipher.final()])
    return JSON.parse(plain.toString('utf8')) as Record<string, unknown>
  } catch {
    throw new SigningKeySecretError(
      `does not decrypt signing key ${kid} (it was encrypted with another secret, or the row was altered): set the secret the keys were encrypted with`
    )
  }
}
