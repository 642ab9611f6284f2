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
  /** True when this is the stored answer of an earlier request (send `Idempotency-Replayed: true`). */
  replayed?: boolean
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
        Object.keys(value)
          .sort()
          .map((k) => [k, canonical((value as Record<string, unknown>)[k])])
      )
    }
    return value
  }
  return createHash('sha256')
    .update(JSON.stringify(canonical(body) ?? null))
    .digest('hex')
}

/** A claim left pending this long belongs to a request whose server died: take it over. */
const ABANDONED_CLAIM_MS = 60_000
/** How long a request waits for a racing request with the same key before answering 409. */
const WAIT_FOR_RACE_MS = 10_000
const POLL_MS = 25

/**
 * Runs `operation` at most once per (scope, key, body): a replay answers the stored first
 * response, another body under the same key is a 422. The key is claimed before the
 * operation runs, so requests racing with one key (on any instance) wait for the first one
 * and answer its response, instead of each running the operation.
 */
export async function withIdempotency(
  store: Store,
  scope: string,
  key: string | undefined,
  body: unknown,
  operation: () => Promise<Replayable>,
  sleep: (ms: number) => Promise<void> = (ms) => new Promise((resolve) => setTimeout(resolve, ms))
): Promise<Replayable> {
  if (key === undefined) return operation()
  const hash = bodyHash(body)
  const waitUntil = Date.now() + WAIT_FOR_RACE_MS
  for (;;) {
    const stored = await store.idempotencyKeys.find(scope, key, IDEMPOTENCY_TTL_MS)
    if (stored && stored.requestSha256 !== hash) {
      throw new ApiError(422, 'idempotency_key_reused', 'this Idempotency-Key was already used with another request body')
    }
    if (stored && stored.status !== 0) return { status: stored.status, body: stored.response, replayed: true }
    // No row, or a pending one whose owner may have died: try to claim (the store takes over abandoned claims).
    if (await store.idempotencyKeys.claim(scope, key, hash, IDEMPOTENCY_TTL_MS, ABANDONED_CLAIM_MS)) {
      return runClaimed(store, scope, key, operation)
    }
    // Another request holds the key: wait for its answer (or for it to give the key up).
    if (Date.now() > waitUntil) {
      throw new ApiError(409, 'idempotency_key_in_use', 'a request with this Idempotency-Key is still in progress; retry later')
    }
    await sleep(POLL_MS)
  }
}

async function runClaimed(store: Store, scope: string, key: string, operation: () => Promise<Replayable>): Promise<Replayable> {
  let result: Replayable
  try {
    result = await operation()
  } catch (error) {
    await store.idempotencyKeys.release(scope, key).catch(() => undefined)
    throw error
  }
  await store.idempotencyKeys.complete(scope, key, result.status, result.body)
  // Answer what replays will answer (the stored JSON), byte for byte.
  const stored = await store.idempotencyKeys.find(scope, key, IDEMPOTENCY_TTL_MS)
  return stored ? { status: stored.status, body: stored.response } : result
}
