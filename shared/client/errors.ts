/**
 * One error type for the whole client: a stable `code` that tests and the top level switch
 * on, the server's own code and status when there is one, and `cause` kept. Each layer
 * wraps with what it was doing (`withContext`), so the final message reads as a path.
 */
export type ErrorCode =
  /** An input is missing or malformed; the message names it and the fix. */
  | 'invalid_input'
  /** The job lacks `permissions: id-token: write` (no ACTIONS_ID_TOKEN_REQUEST_URL). */
  | 'missing_id_token_permission'
  /** The runner's token endpoint failed. */
  | 'id_token_unavailable'
  /** Connection refused/reset, DNS, TLS: nothing answered. */
  | 'unreachable'
  /** No answer within the per-request timeout. */
  | 'timeout'
  /** The server's TLS certificate is not trusted (not transient: never retried). */
  | 'tls'
  /** An HTML page (or other non-JSON) where JSON was expected. */
  | 'not_json'
  /** JSON, but not the shape the protocol promises. */
  | 'invalid_response'
  /** A 3xx: api-url is not the API's own URL. */
  | 'redirected'
  /** The server refused with a 4xx and (usually) a code of docs/protocol.md: see `serverCode`. */
  | 'rejected'
  /** The server failed (5xx). */
  | 'server_error'
  /** dry-run: the exchange would be refused. */
  | 'dry_run_denied'
  /** Anything else: a bug or an unexpected failure of the platform. */
  | 'internal'

export interface ActionErrorDetails {
  cause?: unknown
  /** HTTP status of the answer that caused it. */
  status?: number
  /** The server's error code (`trust_policy_violation`, ...). */
  serverCode?: string
  /** The server's own description, already scrubbed of secrets. */
  serverMessage?: string
  /** Safe to try again (network errors, 429, 502/503/504). */
  retryable?: boolean
  /** Server asked to wait this long before the next try (Retry-After). */
  retryAfterMs?: number
  /** How many attempts were made before giving up. */
  attempts?: number
}

export class ActionError extends Error {
  readonly code: ErrorCode
  readonly status?: number
  readonly serverCode?: string
  readonly serverMessage?: string
  readonly retryable: boolean
  readonly retryAfterMs?: number
  readonly attempts?: number

  constructor(code: ErrorCode, message: string, details: ActionErrorDetails = {}) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause })
    this.name = this.constructor.name
    this.code = code
    this.status = details.status
    this.serverCode = details.serverCode
    this.serverMessage = details.serverMessage
    this.retryable = details.retryable ?? false
    this.retryAfterMs = details.retryAfterMs
    this.attempts = details.attempts
  }

  /** The details, to copy onto a wrapping error. */
  get details(): ActionErrorDetails {
    return {
      status: this.status,
      serverCode: this.serverCode,
      serverMessage: this.serverMessage,
      retryable: this.retryable,
      retryAfterMs: this.retryAfterMs,
      attempts: this.attempts
    }
  }
}

/** Prefixes what the caller was doing, keeping code, server fields and the original as cause. */
export function withContext(error: unknown, doing: string): ActionError {
  if (error instanceof ActionError) {
    return new ActionError(error.code, `${doing}: ${error.message}`, { ...error.details, cause: error })
  }
  const message = error instanceof Error ? error.message : String(error)
  return new ActionError('internal', `${doing}: ${message}`, { cause: error })
}

/** Runs `work`, wrapping any failure with what it was doing. */
export async function doing<T>(what: string, work: () => Promise<T>): Promise<T> {
  try {
    return await work()
  } catch (error) {
    throw withContext(error, what)
  }
}
