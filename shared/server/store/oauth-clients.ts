/** Introspection clients (table oauth_clients): a name and the KDF hash of the secret, never the secret. */
import { toDate, type Timestamp } from './columns'
import type { Queryable } from './db'

export interface OAuthClient {
  clientId: string
  name: string
  /** client-secrets.ts's encoding (KDF, parameters, salt, hash). */
  secretHash: string
  createdAt: Date
}

interface Columns {
  client_id: string
  name: string
  secret_hash: string
  created_at: Timestamp
}

const toClient = (r: Columns): OAuthClient => ({ clientId: r.client_id, name: r.name, secretHash: r.secret_hash, createdAt: toDate(r.created_at) })

export class OAuthClientRepository {
  constructor(
    private readonly db: Queryable,
    private readonly now: () => Date
  ) {}

  async create(input: { clientId: string; name: string; secretHash: string }): Promise<OAuthClient> {
    const { rows } = await this.db.query<Columns>('INSERT INTO oauth_clients (client_id, name, secret_hash, created_at) VALUES ($1, $2, $3, $4) RETURNING *', [
      input.clientId,
      input.name,
      input.secretHash,
      this.now()
    ])
    return toClient(rows[0]!)
  }

  async get(clientId: string): Promise<OAuthClient | undefined> {
    const { rows } = await this.db.query<Columns>('SELECT * FROM oauth_clients WHERE client_id = $1', [clientId])
    return rows[0] ? toClient(rows[0]) : undefined
  }

  /** Oldest first. */
  async list(): Promise<OAuthClient[]> {
    const { rows } = await this.db.query<Columns>('SELECT * FROM oauth_clients ORDER BY created_at, client_id')
    return rows.map(toClient)
  }

  /** True when a client was deleted. */
  async delete(clientId: string): Promise<boolean> {
    return (await this.db.query('DELETE FROM oauth_clients WHERE client_id = $1', [clientId])).rowCount > 0
  }
}
