/**
 * What the workspace SQL API asks of a storage engine. Two engines implement it: embedded
 * (one PGlite instance per workspace, each in a worker thread of its own, under DATA_DIR) and
 * PostgreSQL (one database and one login role per workspace). The route (routes/workspace)
 * authenticates, limits and counts; the engine runs SQL as the workspace and nothing else.
 *
 * Shared rules both engines follow (docs/workspaces.md):
 * - one statement per `statement()` call, on the extended protocol (several are a 42601 error);
 * - parameters arrive as PostgreSQL text (values.ts encodes JSON), results leave as text with
 *   their type OIDs (values.ts decodes them), so both engines answer the same JSON;
 * - session state never outlives a request; the time limit is enforced from outside the SQL.
 */
import type { RawResult } from './values'

/** The identity of a workspace as the engines know it: an opaque name (no namespace, no repository). */
export interface WorkspaceHandle {
  /** Opaque and stable, e.g. `w_3f9c...`: PostgreSQL database and role name, or the embedded directory name. */
  engineName: string
  /** PostgreSQL mode: the login role's password (the engine never logs it). */
  engineSecret?: string
}

export interface StatementInput {
  sql: string
  /** Already encoded to PostgreSQL text (values.encodeParam); null is SQL NULL. */
  params: (string | null)[]
}

export interface RunRequest {
  statements: StatementInput[]
  /** All or nothing: the first failure rolls back every statement of the request. */
  transaction: boolean
  /** Statements run in a read-only transaction that they cannot lift (db:read tokens). */
  readOnly: boolean
  /**
   * The workspace's stored size is at or past its quota: every statement runs in a
   * transaction of its own, rolled back (quota_exceeded) when it wrote anything but a
   * DELETE, TRUNCATE or DROP.
   */
  overQuota: boolean
  limits: RunLimits
}

export interface RunLimits {
  statementTimeoutMs: number
  /** Rows one statement may return; one more is result_too_large. */
  maxRows: number
  /** Bytes of one answer (all statements' rows, as JSON); more is result_too_large. */
  maxResultBytes: number
  /** The workspace's storage quota (WORKSPACE_MAX_BYTES), for the quota_exceeded message. */
  maxBytes: number
  /** The whole request's time (WORKSPACE_REQUEST_TIMEOUT_MS): no statement starts after it. */
  requestTimeoutMs?: number
}

export interface RunOutcome {
  results: RawResult[]
  /** The workspace's own data in bytes, measured after the request when it may have written. */
  bytes?: number
}

export interface WorkspaceEngine {
  readonly kind: 'embedded' | 'postgres'
  /** Creates the workspace's database (idempotent: an existing one is kept as it is). */
  provision(workspace: WorkspaceHandle): Promise<void>
  /** Runs the statements as the workspace. Throws the errors of ./errors.ts. */
  run(workspace: WorkspaceHandle, request: RunRequest): Promise<RunOutcome>
  /** User tables with exact row counts, for GET <url>/tables. */
  tables(workspace: WorkspaceHandle, limits: RunLimits): Promise<{ name: string; rowCount: number }[]>
  /** The workspace's own data in bytes (tables, indexes, TOAST, large objects). */
  size(workspace: WorkspaceHandle, limits: RunLimits): Promise<number>
  /** Ends every open session of the workspace (disable). */
  evict(workspace: WorkspaceHandle): Promise<void>
  /** Aggregate facts for metrics: sessions or instances open now. */
  stats(): { open: number }
  close(): Promise<void>
}
