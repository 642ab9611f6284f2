/**
 * The server's own signing keys: generated on first start, kept in the database (so a
 * restart or a second instance verifies what was issued), published at the JWKS endpoint
 * newest first. With SIGNING_KEYS_SECRET the private halves are stored encrypted
 * (key-encryption.ts); a retired key's private half is deleted.
 *
 * ES256: faster signing than RS256, small tokens, equally supported by JWT verifiers.
 * Keys are generated, exported and verified with jose; tokens are signed with fast-jwt,
 * which signs synchronously with node:crypto, faster than jose's WebCrypto (a
 * thread-pool round trip per signature), and one signature is on the path of every exchange.
 * bench/jwt-libs.ts measures both algorithms with both libraries; bench/ANALYSIS.md has what
 * it saved per exchange.
 */
import { createPrivateKey, randomUUID, type JsonWebKey } from 'node:crypto'
import { createSigner } from 'fast-jwt'
import { decodeProtectedHeader, exportJWK, generateKeyPair, importJWK, jwtVerify, type CryptoKey, type JWK, type JWTPayload } from 'jose'
import { decryptPrivateJwk, encryptPrivateJwk, isEncryptedPrivateJwk } from './key-encryption'
import type { SigningKeyRow, Store } from './store/store'

export const SIGNING_ALG = 'ES256'

interface LoadedKey {
  kid: string
  createdAt: Date
  publicJwk: JWK
  publicKey: CryptoKey | Uint8Array
  /** Signs a payload (which carries its own iat and exp) into a compact JWS. */
  sign: (payload: JWTPayload) => string
}

function signerFor(privateJwk: JWK, kid: string): (payload: JWTPayload) => string {
  const pem = createPrivateKey({ key: privateJwk as JsonWebKey, format: 'jwk' })
    .export({ format: 'pem', type: 'pkcs8' })
    .toString()
  return createSigner({ algorithm: SIGNING_ALG, key: pem, kid, header: { alg: SIGNING_ALG, typ: 'at+jwt' } })
}

/**
 * Keys loaded longer ago than this are reloaded from the database before verify() trusts
 * them (and in the background by sign()): a rotation on another instance shows here, and a
 * key withdrawn there (emergency rotation) stops verifying here, within this bound.
 */
export const KEY_RELOAD_INTERVAL_MS = 10_000
const RELOAD_INTERVAL_MS = KEY_RELOAD_INTERVAL_MS

/**
 * A token with a key id we do not know (a key another instance has just made, e.g. in an
 * emergency rotation, which signs at once) reloads the keys, at most this often.
 */
const UNKNOWN_KID_RELOAD_MS = 1_000

/**
 * A new key is published at once but signs only this long after its creation: by then every
 * instance has reloaded its keys (verify() does when they are older than RELOAD_INTERVAL_MS),
 * so no instance ever refuses a token signed with it.
 */
export const KEY_ACTIVATION_DELAY_MS = RELOAD_INTERVAL_MS + 5_000

/**
 * How long after a rotation the replaced key stays in the JWKS: the activation delay, the
 * longest access token lifetime (config caps ACCESS_TOKEN_TTL at 900 s), and verifiers'
 * clock tolerance (60 s).
 */
export const KEY_RETIREMENT_GRACE_MS = KEY_ACTIVATION_DELAY_MS + (900 + 60) * 1000

export interface SigningKeyInfo {
  kid: string
  alg: string
  createdAt: string
  /** The key new tokens are signed with now. */
  signing: boolean
  /** When it signs (or started to sign) new tokens. */
  signsFrom: string
  /** When it leaves the JWKS; null while no newer key exists. */
  retiresAt: string | null
}

async function generateSigningKey(): Promise<{ kid: string; alg: string; publicJwk: JWK; privateJwk: JWK }> {
  const { publicKey, privateKey } = await generateKeyPair(SIGNING_ALG, { extractable: true })
  const kid = randomUUID()
  return {
    kid,
    alg: SIGNING_ALG,
    publicJwk: { ...(await exportJWK(publicKey)), kid, alg: SIGNING_ALG, use: 'sig' },
    privateJwk: { ...(await exportJWK(privateKey)), kid, alg: SIGNING_ALG }
  }
}

export interface SigningKeysOptions {
  /** SIGNING_KEYS_SECRET: the private keys are stored encrypted with it (key-encryption.ts). */
  secret?: string
}

export class SigningKeys {
  private keys: LoadedKey[] = []
  private lastLoad = 0
  private reloading: Promise<void> | undefined
  /** Reloads are numbered: one that started before another never overwrites its result. */
  private reloadsStarted = 0
  private reloadApplied = 0
  private readonly secret: string | undefined

  constructor(
    private readonly store: Store,
    private readonly now: () => Date = () => new Date(),
    options: SigningKeysOptions = {}
  ) {
    this.secret = options.secret || undefined
  }

  /**
   * Creates the first key if the database has none, encrypts plaintext private keys in place
   * when a secret is set, then loads the active keys. A key that cannot be decrypted (no or
   * another secret) fails here: the server does not start.
   */
  async init(): Promise<void> {
    await this.store.signingKeys.ensureOne(() => this.generate())
    const rows = await this.store.signingKeys.active()
    if (this.secret) {
      for (const row of rows) {
        if (isEncryptedPrivateJwk(row.privateJwk)) continue
        await this.store.signingKeys.encrypt(row.kid, { ...encryptPrivateJwk(row.privateJwk, this.secret, row.kid) })
      }
    }
    await this.reload(rows)
  }

  /**
   * Key rotation: adds a new key, published at once, signing every token from
   * KEY_ACTIVATION_DELAY_MS on (on every instance); the replaced keys stay in the JWKS for
   * KEY_RETIREMENT_GRACE_MS.
   */
  async rotate(): Promise<SigningKeyInfo> {
    const key = await this.generate()
    await this.store.signingKeys.add(key)
    await this.reload()
    return this.list().find((k) => k.kid === key.kid)!
  }

  /**
   * Emergency rotation (a key leaked): adds a new key that signs at once and retires every
   * other key now, private halves deleted. Tokens they signed stop verifying at once here,
   * and on other instances at their next reload (within KEY_RELOAD_INTERVAL_MS).
   */
  async rotateEmergency(): Promise<{ key: SigningKeyInfo; withdrawn: string[] }> {
    const key = await this.generate()
    const withdrawn = await this.store.signingKeys.withdrawAllBut(key)
    await this.reload()
    return { key: this.list().find((k) => k.kid === key.kid)!, withdrawn }
  }

  /** A new key as stored: its private half encrypted when a secret is set. */
  private async generate(): Promise<Omit<SigningKeyRow, 'createdAt'>> {
    const key = await generateSigningKey()
    if (!this.secret) return key
    return { ...key, privateJwk: { ...encryptPrivateJwk(key.privateJwk, this.secret, key.kid) } }
  }

  /** The published keys with their role, newest first. */
  list(): SigningKeyInfo[] {
    const published = this.published()
    const signing = this.signingIndex()
    return this.keys.flatMap((key, index) => {
      if (!published.includes(key)) return []
      const retiresAt = this.retiresAt(index)
      return {
        kid: key.kid,
        alg: SIGNING_ALG,
        createdAt: key.createdAt.toISOString(),
        signing: index === signing,
        signsFrom: this.signsFrom(index).toISOString(),
        retiresAt: retiresAt ? retiresAt.toISOString() : null
      }
    })
  }

  /** Reloads the keys when the last load is older than `maxAgeMs` (a rotation elsewhere). */
  async refreshIfStale(maxAgeMs = RELOAD_INTERVAL_MS): Promise<void> {
    if (this.now().getTime() - this.lastLoad > maxAgeMs) {
      this.reloading ??= this.reload().finally(() => (this.reloading = undefined))
      await this.reloading
    }
  }

  /** The oldest loaded key (the first ever, or the survivor of retirements) signs at once. */
  private signsFrom(index: number): Date {
    const key = this.keys[index]!
    return index === this.keys.length - 1 ? key.createdAt : new Date(key.createdAt.getTime() + KEY_ACTIVATION_DELAY_MS)
  }

  /** The newest key whose activation time has come. */
  private signingIndex(): number {
    const now = this.now().getTime()
    const index = this.keys.findIndex((_, i) => this.signsFrom(i).getTime() <= now)
    return index === -1 ? this.keys.length - 1 : index
  }

  /** A replaced key retires once the grace after its successor's creation has passed. */
  private retiresAt(index: number): Date | undefined {
    const successor = this.keys[index - 1]
    return successor ? new Date(successor.createdAt.getTime() + KEY_RETIREMENT_GRACE_MS) : undefined
  }

  /** The keys still published and accepted (the signing key and those in their grace). */
  private published(): LoadedKey[] {
    const now = this.now().getTime()
    return this.keys.filter((_, index) => (this.retiresAt(index)?.getTime() ?? Infinity) > now)
  }

  /**
   * Loads the active keys (`rows`, or read now). Keys no longer active (retired, or withdrawn
   * by an emergency rotation anywhere) are dropped even when a new one fails to load; that
   * failure (a key this instance cannot decrypt) is thrown afterwards.
   */
  private async reload(rows?: SigningKeyRow[]): Promise<void> {
    const number = ++this.reloadsStarted
    const startedAt = this.now().getTime()
    const active = rows ?? (await this.store.signingKeys.active())
    const known = new Map(this.keys.map((k) => [k.kid, k]))
    const loaded: LoadedKey[] = []
    let failure: Error | undefined
    for (const row of active) {
      try {
        loaded.push(known.get(row.kid) ?? (await this.load(row)))
      } catch (error) {
        failure ??= error instanceof Error ? error : new Error(String(error))
      }
    }
    // A reload that read the table before another one did must not undo what that one saw.
    if (number < this.reloadApplied) {
      if (failure) throw failure
      return
    }
    this.reloadApplied = number
    this.keys = loaded
    this.lastLoad = startedAt
    const retired = loaded.filter((_, index) => (this.retiresAt(index)?.getTime() ?? Infinity) <= this.now().getTime())
    if (retired.length > 0) {
      this.keys = loaded.filter((k) => !retired.includes(k))
      await this.store.signingKeys.retire(retired.map((k) => k.kid))
    }
    if (failure) throw failure
  }

  /** One key ready to sign and verify: its private half decrypted when stored encrypted. */
  private async load(row: SigningKeyRow): Promise<LoadedKey> {
    const stored = row.privateJwk as unknown
    if (!stored) throw new Error(`signing key ${row.kid} is active but has no private key`)
    const privateJwk = isEncryptedPrivateJwk(stored) ? decryptPrivateJwk(stored, this.secret, row.kid) : (stored as JWK)
    return {
      kid: row.kid,
      createdAt: row.createdAt,
      publicJwk: row.publicJwk,
      publicKey: await importJWK(row.publicJwk as JWK, row.alg),
      sign: signerFor(privateJwk, row.kid)
    }
  }

  /** The JWKS document: public parts only, newest first. */
  jwks(): { keys: JWK[] } {
    return { keys: this.published().map((k) => k.publicJwk) }
  }

  async sign(payload: JWTPayload & { sub: string; jti: string; iss: string; aud: string; exp: number }): Promise<string> {
    // In the background: no exchange waits for a reload; a rotation on another instance is
    // picked up by the next token after it.
    void this.refreshIfStale().catch(() => undefined)
    const key = this.keys[this.signingIndex()]
    if (!key) throw new Error('no signing key loaded; call init() first')
    return key.sign({ ...payload, iat: Math.floor(this.now().getTime() / 1000) })
  }

  /**
   * Verifies signature, issuer, audience (when given) and expiry of a token we issued. Throws on any
   * failure (the caller turns that into 401 without detail).
   */
  async verify(token: string, expected: { issuer: string; audience?: string }): Promise<JWTPayload> {
    const { kid, alg } = decodeProtectedHeader(token)
    if (alg !== SIGNING_ALG || typeof kid !== 'string') throw new Error('not one of our tokens')
    // Keys loaded more than RELOAD_INTERVAL_MS ago are reloaded first: a key withdrawn on
    // another instance must not verify here for longer. Not verify()'s failure when the
    // database is unreachable: the credential check that follows every verify() fails then.
    await this.refreshIfStale().catch(() => undefined)
    let key = this.published().find((k) => k.kid === kid)
    if (!key) {
      await this.refreshIfStale(UNKNOWN_KID_RELOAD_MS).catch(() => undefined)
      key = this.published().find((k) => k.kid === kid)
    }
    if (!key) throw new Error('unknown key id')
    const { payload } = await jwtVerify(token, key.publicKey, {
      algorithms: [SIGNING_ALG],
      issuer: expected.issuer,
      ...(expected.audience === undefined ? {} : { audience: expected.audience }),
      requiredClaims: ['exp', 'iat', 'sub', 'jti'],
      currentDate: this.now(),
      clockTolerance: 5
    })
    return payload
  }
}
