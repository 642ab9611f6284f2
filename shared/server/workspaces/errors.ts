/**
 * How a workspace request fails, as ApiErrors in Protocol B's envelope. Engines throw these;
 * the route renders them. A SQL error is the workspace's own doing: always a 400 with the
 * database's message and SQLSTATE, never a 5xx.
 */
import { ApiError } from '../errors'

/** The database refused a statement. `statement` is its 0-based index in the request. */
export function sqlError(message: string, sqlstate: string | undefined, statement: number): ApiError {
  return new ApiError(400, 'sql_error', message, {}, { fields: { ...(sqlstate ? { sqlstate } : {}), statement } })
}

export function statementTimeout(limitMs: number, statement: number): ApiError {
  return new ApiError(400, 'statement_timeout', `statement ${statement} ran longer than ${limitMs} ms and was cancelled`, {}, { fields: { statement } })
}

export function requestTimeout(limitMs: number, statement: number): ApiError {
  return new ApiError(400, 'statement_timeout', `the request ran longer than ${limitMs} ms and was cancelled at statement ${statement}`, {}, { fields: { statement } })
}

export function resultTooLarge(what: string, statement: number): ApiError {
  return new ApiError(400, 'result_too_large', `${what}; select fewer rows or columns (LIMIT, WHERE)`, {}, { fields: { statement } })
}

export function quotaExceeded(maxBytes: number, statement?: number): ApiError {
  return new ApiError(
    403,
    'quota_exceeded',
    `the workspace holds more than its ${maxBytes} bytes: statements that add data are refused; reads, DELETE, TRUNCATE and DROP still work`,
    {},
    { fields: statement === undefined ? {} : { statement } }
  )
}

export function roleChangeRefused(statement: number): ApiError {
  return new ApiError(403, 'forbidden', `statement ${statement} tried to change the role it runs as; it was rolled back`, {}, { fields: { statement } })
}

export function transactionControlRefused(statement: number): ApiError {
  return new ApiError(
    400,
    'sql_error',
    `statement ${statement} is transaction control (BEGIN, COMMIT, ROLLBACK, SAVEPOINT ...): send the statements as a batch with "transaction": true instead`,
    {},
    { fields: { statement } }
  )
}

export function workspaceUnavailable(message: string, retryAfterSeconds = 2): ApiError {
  return new ApiError(503, 'workspace_unavailable', message, { 'retry-after': String(retryAfterSeconds) })
}

/** A write with a db:read token: the statement ran read-only and the database refused the write. */
export function readOnlyRefused(statement: number): ApiError {
  return new ApiError(
    403,
    'forbidden',
    `statement ${statement} writes, and this workspace token may only read (scope db:read); run federate with scope "db:write" to write`,
    {},
    { fields: { statement } }
  )
}
