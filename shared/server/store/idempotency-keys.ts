/** Idempotency-Key claims and stored answers (table idempotency_keys); idempotency.ts uses them. */
import { fromJson } from './columns'
import type { Queryable } from './db'

export interface IdempotentResponse {
  requestSha256: string
  /** 0 while the claim's request is still running. */
  status: number
  response: unknown
}

export class IdempotencyKeyRepository {
  constructor(
    private readonly db: Queryable,
    private readonly now: () => Date
  ) {}

  async find(scope: string, key: string, maxAgeMs: number): Promise<IdempotentResponse | undefined> {
    const { rows } = await this.db.query<{ request_sha256: string; status: number; response: unknown }>(
      'SELECT request_sha256, status, response FROM idempotency_keys WHERE scope = $1 AND key = $2 AND created_at > $3',
      [scope, key, new Date(this.now().getTime() - maxAgeMs)]
    )
    const r = rows[0]
    return r ? { requestSha256: r.request_sha256, status: Number(r.status), response: fromJson(r.response) } : undefined
  }

  /**
   * Claims (scope, key) for one request before it runs, so that racing requests with the
   * same key (on any instance) run the operation once. True when this caller holds the claim.
   * The claim row has status 0 until `complete`; an expired row, or a claim left pending
   * longer than `abandonAfterMs` (its instance died), is taken over.
   */
  async claim(scope: string, key: string, requestSha256: string, maxAgeMs: number, abandonAfterMs: number): Promise<boolean> {
    const now = this.now().getTime()
    await this.db.query(
      `DELETE FROM idempotency_keys WHERE scope = $1 AND key = $2
         AND (created_at <= $3 OR (status = 0 AND created_at <= $4))`,
      [scope, key, new Date(now - maxAgeMs), new Date(now - abandonAfterMs)]
    )
    const { rows } = await this.db.query(
      `INSERT INTO idempotency_keys (scope, key, request_sha256, status, response, created_at)
       VALUES ($1, $2, $3, 0, 'null', $4) ON CONFLICT (scope, key) DO NOTHING RETURNING key`,
      [scope, key, requestSha256, this.now()]
    )
    return rows.length === 1
  }

  /** Stores the successful response of a claimed key. */
  async complete(scope: string, key: string, status: number, response: unknown): Promise<void> {
    await this.db.query('UPDATE idempotency_keys SET status = $3, response = $4 WHERE scope = $1 AND key = $2', [scope, key, status, JSON.stringify(response)])
  }

  /** Gives a claim up after a failed operation: errors are never stored. */
  async release(scope: string, key: string): Promise<void> {
    await this.db.query('DELETE FROM idempotency_keys WHERE scope = $1 AND key = $2 AND status = 0', [scope, key])
  }

  /** Drops rows older than maxAgeMs (called now and then). */
  async prune(maxAgeMs: number): Promise<void> {
    await this.db.query('DELETE FROM idempotency_keys WHERE created_at <= $1', [new Date(this.now().getTime() - maxAgeMs)])
  }
}
