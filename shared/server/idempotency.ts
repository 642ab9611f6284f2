/**
 * Idempotency-Key handling for POST /api/v1/agents: keys are scoped to the caller's
 * repository id, live 24 h, replay the first successful response (status included), and
 * refuse the same key with another body (422). Errors are never stored.
 */
import { createHash } from 'node:crypto'
import type { FastifyRequest } from 'fastify'
import { ApiError, badRequest } from './errors'
import type { Store } from './store/store'

export const IDEMPOTENCY_TTL_MS = 24 * 60 * 60 * 1000

export interface Replayable {
  status: number
  body: unknown
}

/** The header value, validated; undefined when absent. */
export function idempotencyKey(request: FastifyRequest): string | undefined {
  const raw = request.headers['idempotency-key']
  if (raw === undefined) return undefined
  if (typeof raw !== 'string' || !/^[\x21-\x7e]{1,255}$/.test(raw)) {
    throw badRequest('Idempotency-Key must be 1 to 255 visible ASCII characters')
  }
  return raw
}

/** Stable hash of a JSON body: key order does not matter. */
export function bodyHash(body: unknown): string {
  const canonical = (value: unknown): unknown => {
    if (Array.isArray(value)) return value.map(canonical)
    if (value && typeof value === 'object') {
      return Object.fromEntries(
        Object.keys(value as object)
          .sort()
          .map((k) => [k, canonical((value as Record<string, unknown>)[k])])
      )
    }
    return value
  }
  return createHash('sha256').update(JSON.stringify(canonical(body) ?? null)).digest('hex')
}

/**
 * Runs `operation` at most once per (scope, key, body): a replay answers the stored first
 * response, another body under the same key is a 422.
 */
export async function withIdempotency(
  store: Store,
  scope: string,
  key: string | undefined,
  body: unknown,
  operation: () => Promise<Replayable>
): Promise<Replayable> {
  if (key === undefined) return operation()
  const hash = bodyHash(body)
  const check = (stored: { requestSha256: string; status: number; response: unknown }): Replayable => {
    if (stored.requestSha256 !== hash) {
      throw new ApiError(422, 'idempotency_key_reused', 'this Idempotency-Key was already used with another request body')
    }
    return { status: stored.status, body: stored.response }
  }
  const existing = await store.idempotentResponse(scope, key, IDEMPOTENCY_TTL_MS)
  if (existing) return check(existing)
  const result = await operation()
  const saved = await store.saveIdempotentResponse(
    scope,
    key,
    { requestSha256: hash, status: result.status, response: result.body },
    IDEMPOTENCY_TTL_MS
  )
  return check(saved)
}
