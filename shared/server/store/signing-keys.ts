/** The server's own signing keys (table signing_keys). */
import type { Db } from './db'
import { fromJson, toDate, type Timestamp } from './columns'

export interface SigningKeyRow {
  kid: string
  alg: string
  publicJwk: Record<string, unknown>
  /** Plain or encrypted (SIGNING_KEYS_SECRET); active keys only: a retired key's is deleted. */
  privateJwk: Record<string, unknown>
  createdAt: Date
}

export type NewSigningKey = Omit<SigningKeyRow, 'createdAt'>

interface Columns {
  kid: string
  alg: string
  public_jwk: unknown
  private_jwk: unknown
  created_at: Timestamp
}

/** Advisory lock key shared by every instance: first-key generation and emergency rotation. */
const KEYS_LOCK = 7_301_114_152

const INSERT = 'INSERT INTO signing_keys (kid, alg, public_jwk, private_jwk, status, created_at) VALUES ($1, $2, $3, $4, $5, $6)'

export class SigningKeyRepository {
  constructor(
    private readonly db: Db,
    private readonly now: () => Date
  ) {}

  async active(): Promise<SigningKeyRow[]> {
    const { rows } = await this.db.query<Columns>("SELECT * FROM signing_keys WHERE status = 'active' ORDER BY created_at DESC, kid DESC")
    return rows.map((r) => ({
      kid: r.kid,
      alg: r.alg,
      publicJwk: fromJson(r.public_jwk),
      privateJwk: fromJson(r.private_jwk),
      createdAt: toDate(r.created_at)
    }))
  }

  /**
   * Makes sure one active key exists; `generate` runs only when none does. Serialized with
   * an advisory lock so two instances starting together end up with a single key.
   */
  async ensureOne(generate: () => Promise<NewSigningKey>): Promise<void> {
    await this.db.transaction(async (tx) => {
      await tx.query('SELECT pg_advisory_xact_lock($1)', [KEYS_LOCK])
      const { rows } = await tx.query("SELECT kid FROM signing_keys WHERE status = 'active' LIMIT 1")
      if (rows.length > 0) return
      const key = await generate()
      await tx.query(INSERT, this.insertParams(key))
    })
  }

  /** Adds a key (rotation); it becomes the newest, so new tokens are signed with it. */
  async add(key: NewSigningKey): Promise<void> {
    await this.db.query(INSERT, this.insertParams(key))
  }

  /**
   * Takes keys out of the JWKS for good (their last token has expired) and deletes their
   * private halves: a retired key can never sign again.
   */
  async retire(kids: string[]): Promise<void> {
    if (kids.length === 0) return
    await this.db.query("UPDATE signing_keys SET status = 'retired', private_jwk = NULL WHERE kid = ANY($1::text[])", [kids])
  }

  /**
   * Emergency rotation: adds `key` and retires every other active key (private halves
   * deleted) in one transaction; returns the withdrawn key ids. Same advisory lock as
   * ensureOne, so an instance starting meanwhile never adds a key of its own.
   */
  async withdrawAllBut(key: NewSigningKey): Promise<string[]> {
    return this.db.transaction(async (tx) => {
      await tx.query('SELECT pg_advisory_xact_lock($1)', [KEYS_LOCK])
      await tx.query(INSERT, this.insertParams(key))
      const { rows } = await tx.query<{ kid: string }>("UPDATE signing_keys SET status = 'retired', private_jwk = NULL WHERE status = 'active' AND kid <> $1 RETURNING kid", [
        key.kid
      ])
      return rows.map((r) => r.kid).sort()
    })
  }

  /** Replaces a key's plaintext private JWK by its encrypted form (SIGNING_KEYS_SECRET); false if it was not plaintext. */
  async encrypt(kid: string, encrypted: Record<string, unknown>): Promise<boolean> {
    const { rowCount } = await this.db.query("UPDATE signing_keys SET private_jwk = $2 WHERE kid = $1 AND private_jwk IS NOT NULL AND private_jwk->>'enc' IS NULL", [
      kid,
      JSON.stringify(encrypted)
    ])
    return rowCount > 0
  }

  private insertParams(key: NewSigningKey): unknown[] {
    return [key.kid, key.alg, JSON.stringify(key.publicJwk), JSON.stringify(key.privateJwk), 'active', this.now()]
  }
}
