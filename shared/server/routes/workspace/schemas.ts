/** The workspace SQL API (Protocol B): requests, answers and documentation. */
import { Type, type Static } from '@sinclair/typebox'
import { described, errorsB, type RouteDocs } from '../docs'

const Params = Type.Array(Type.Unknown(), { maxItems: 65_535, description: 'values of $1, $2, ...: JSON values (arrays become PostgreSQL arrays, objects JSON)' })

const Statement = Type.Object(
  {
    sql: Type.String({ minLength: 1, description: 'one statement, PostgreSQL dialect, parameters as $1, $2, ...' }),
    params: Type.Optional(Params)
  },
  { additionalProperties: false }
)

export const QueryBody = Statement
export type QueryBody = Static<typeof QueryBody>

export const BatchBody = Type.Object(
  {
    statements: Type.Array(Statement, { minItems: 1, maxItems: 100 }),
    transaction: Type.Optional(Type.Boolean({ description: 'all or nothing: the first failure rolls back every statement' }))
  },
  { additionalProperties: false }
)
export type BatchBody = Static<typeof BatchBody>

const Result = Type.Object(
  {
    columns: Type.Array(Type.String()),
    rows: Type.Array(Type.Array(Type.Unknown()), {
      description: 'int2/int4/float: numbers; int8, numeric: strings; timestamps: ISO 8601; json: JSON; bytea: base64; arrays: arrays'
    }),
    rowsRead: Type.Integer({ minimum: 0 }),
    rowsWritten: Type.Integer({ minimum: 0 })
  },
  { additionalProperties: false }
)

export const QueryAnswer = Type.Object({ success: Type.Literal(true), data: Result }, { additionalProperties: false })
export type QueryAnswer = Static<typeof QueryAnswer>
export const BatchAnswer = Type.Object({ success: Type.Literal(true), data: Type.Array(Result) }, { additionalProperties: false })
export type BatchAnswer = Static<typeof BatchAnswer>

export const TablesAnswer = Type.Object(
  { success: Type.Literal(true), data: Type.Array(Type.Object({ name: Type.String(), rowCount: Type.Integer({ minimum: 0 }) }, { additionalProperties: false })) },
  { additionalProperties: false }
)
export type TablesAnswer = Static<typeof TablesAnswer>

export const Usage = Type.Object(
  {
    statements: Type.Integer({ minimum: 0 }),
    rowsRead: Type.Integer({ minimum: 0 }),
    rowsWritten: Type.Integer({ minimum: 0 }),
    bytes: Type.Integer({ minimum: 0, description: "the workspace's own data: tables, indexes, TOAST, large objects" })
  },
  { additionalProperties: false }
)

export const Limits = Type.Object(
  {
    statementTimeoutMs: Type.Integer(),
    maxRows: Type.Integer(),
    maxResultBytes: Type.Integer(),
    maxBytes: Type.Integer()
  },
  { additionalProperties: false }
)

export const WorkspaceInfo = Type.Object(
  {
    success: Type.Literal(true),
    data: Type.Object({ namespace: Type.String(), database: Type.String(), identity: Type.String(), usage: Usage, limits: Limits }, { additionalProperties: false })
  },
  { additionalProperties: false }
)
export type WorkspaceInfo = Static<typeof WorkspaceInfo>

/** Protocol B's error envelope with the SQL API's own fields. */
const SqlError = Type.Object(
  {
    success: Type.Literal(false),
    error: Type.String(),
    code: Type.String({ description: 'sql_error, statement_timeout, result_too_large, quota_exceeded, forbidden, workspace_unavailable, ...' }),
    sqlstate: Type.Optional(Type.String({ description: "the database's SQLSTATE (sql_error)" })),
    statement: Type.Optional(Type.Integer({ minimum: 0, description: 'the failing statement (0-based)' }))
  },
  { additionalProperties: false }
)

const params = { namespace: 'workspace namespace', database: 'database name (main)' }
const sqlErrors = {
  ...errorsB(401, 404, 409, 422, 429),
  400: described('sql_error (with sqlstate), statement_timeout, result_too_large, invalid_request', SqlError),
  403: described('forbidden (another workspace), quota_exceeded (a write past the storage quota), workspace_disabled', SqlError),
  503: described('workspace_unavailable: the database cannot be reached for now; see Retry-After', SqlError)
}

export const workspaceDocs: RouteDocs = {
  'GET /v1/db/:namespace/:database': {
    operationId: 'getWorkspace',
    summary: 'The workspace a workspace token opens, with its usage and limits',
    tags: ['workspace'],
    security: 'workspaceToken',
    params,
    response: { 200: described('the workspace', WorkspaceInfo), ...errorsB(401, 403, 404) }
  },
  'POST /v1/db/:namespace/:database/query': {
    operationId: 'query',
    summary: 'Run one SQL statement (Idempotency-Key supported)',
    tags: ['workspace'],
    security: 'workspaceToken',
    params,
    response: { 200: described('the statement ran', QueryAnswer), ...sqlErrors }
  },
  'POST /v1/db/:namespace/:database/batch': {
    operationId: 'batch',
    summary: 'Run up to 100 statements in order, optionally in one transaction (Idempotency-Key supported)',
    tags: ['workspace'],
    security: 'workspaceToken',
    params,
    response: { 200: described('every statement ran', BatchAnswer), ...sqlErrors }
  },
  'GET /v1/db/:namespace/:database/tables': {
    operationId: 'listTables',
    summary: "The workspace's tables with exact row counts",
    tags: ['workspace'],
    security: 'workspaceToken',
    params,
    response: { 200: described('the tables', TablesAnswer), ...errorsB(401, 403, 404, 429), 503: described('workspace_unavailable', SqlError) }
  }
}
