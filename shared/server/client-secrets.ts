/**
 * Secrets of introspection clients: shown once at creation, stored only as a scrypt hash
 * with a random salt, checked in constant time. The encoding keeps the KDF parameters, so
 * stronger ones can be chosen later without breaking the clients already created.
 */
import { randomBytes, scrypt, timingSafeEqual, type ScryptOptions } from 'node:crypto'

export const CLIENT_SECRET_PREFIX = 'fic_'

const PARAMS = { N: 16384, r: 8, p: 1 }
const KEY_LENGTH = 32
/** Room for N = 2^17 with r = 8 (scrypt needs 128 * N * r bytes). */
const MAX_MEMORY = 256 * 1024 * 1024

function derive(secret: string, salt: Buffer, options: ScryptOptions, length: number): Promise<Buffer> {
  return new Promise((resolve, reject) => scrypt(secret, salt, length, { ...options, maxmem: MAX_MEMORY }, (error, key) => (error ? reject(error) : resolve(key))))
}

/** A new secret: the prefix makes a leaked one recognisable (secret scanners, logs). */
export function newClientSecret(): string {
  return `${CLIENT_SECRET_PREFIX}${randomBytes(32).toString('base64url')}`
}

/** `scrypt$N$r$p$salt$hash` (salt and hash base64url). */
export async function hashClientSecret(secret: string): Promise<string> {
  const salt = randomBytes(16)
  const hash = await derive(secret, salt, PARAMS, KEY_LENGTH)
  return ['scrypt', PARAMS.N, PARAMS.r, PARAMS.p, salt.toString('base64url'), hash.toString('base64url')].join('$')
}

/** A hash nobody's secret matches: unknown clients cost the same work as known ones. */
let decoy: Promise<string> | undefined

/**
 * True when `secret` is the one `stored` was made from. With `stored` undefined (no such
 * client) the same work is done against a decoy, so the answer time does not tell whether
 * a client id exists.
 */
export async function verifyClientSecret(secret: string, stored: string | undefined): Promise<boolean> {
  const encoded = stored ?? (await (decoy ??= hashClientSecret(randomBytes(32).toString('base64url'))))
  const [kdf, n, r, p, salt, hash] = encoded.split('$')
  if (kdf !== 'scrypt' || !salt || !hash) return false
  const expected = Buffer.from(hash, 'base64url')
  const actual = await derive(secret, Buffer.from(salt, 'base64url'), { N: Number(n), r: Number(r), p: Number(p) }, expected.length)
  return timingSafeEqual(actual, expected) && stored !== undefined
}
