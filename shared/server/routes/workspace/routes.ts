/**
 * The workspace SQL API (Protocol B): what a workspace token from federate opens. Every path
 * is under /v1/db/<namespace>/<database>; the token must be one of that workspace's.
 */
import type { FastifyInstance, FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'
import { ApiError, unauthorized } from '../../errors'
import { bearerToken, requireBearer } from '../../http'
import { idempotencyKey, withIdempotency, type Replayable } from '../../idempotency'
import { noteEvent, noteIdentity, type WorkspaceEvent } from '../../request-facts'
import { SERVICES } from '../../services'
import type { Workspace } from '../../store/store'
import { SCOPE_WORKSPACE } from '../../tokens'
import type { StatementRequest } from '../../workspaces/service'
import { BatchBody, QueryBody, type BatchAnswer, type QueryAnswer, type TablesAnswer, type WorkspaceInfo } from './schemas'

interface WorkspaceParams {
  namespace: string
  database: string
}

/** The workspace the bearer token opens, checked against the path: 401, 403 or 404 otherwise. */
export async function authorizedWorkspace(app: FastifyInstance, request: FastifyRequest<{ Params: WorkspaceParams }>): Promise<Workspace & { readOnly: boolean }> {
  const token = bearerToken(request)
  if (!token) throw unauthorized('missing "Authorization: Bearer <workspace token>" (the token output of the federate action)')
  // A refused token (TokenRejected) is a 401 (errors.ts).
  const { workspace, credential } = await app.tokens.authenticateWorkspaceToken(token)
  noteIdentity(request, `repo:${workspace.repository}`)
  // Nothing about the workspace in the path: the caller may not know it exists.
  if (workspace.namespace !== request.params.namespace) throw new ApiError(403, 'forbidden', 'this token belongs to another workspace')
  if (workspace.database !== request.params.database) {
    throw new ApiError(404, 'not_found', `workspace ${workspace.namespace} has no database "${request.params.database.slice(0, 64)}"`)
  }
  if (workspace.disabledAt) {
    throw new ApiError(403, 'workspace_disabled', 'this workspace was disabled by the server operator; its data is kept, and it works again once they enable it')
  }
  // Tokens from before db:read/db:write were both.
  const scopes = credential.scope.split(' ')
  return { ...workspace, readOnly: !scopes.includes('db:write') && !scopes.includes(SCOPE_WORKSPACE) }
}

/** Runs statements at most once per Idempotency-Key (scoped to the workspace), and answers. */
async function runStatements(
  app: FastifyInstance,
  request: FastifyRequest<{ Params: WorkspaceParams }>,
  reply: FastifyReply,
  workspace: Workspace & { readOnly: boolean },
  statements: StatementRequest[],
  options: { transaction: boolean; single: boolean }
): Promise<FastifyReply> {
  const endpoint = options.single ? 'query' : 'batch'
  const operation = async (): Promise<Replayable> => {
    let results
    try {
      results = await app.workspaces.run(workspace, statements, { transaction: options.transaction, readOnly: workspace.readOnly })
    } catch (error) {
      const ran = error instanceof ApiError ? error.fields.statement : undefined
      if (typeof ran === 'number') noteEvent(request, { metric: 'workspace', endpoint, statements: ran })
      throw error
    }
    const rowsRead = results.reduce((n, r) => n + r.rowsRead, 0)
    const rowsWritten = results.reduce((n, r) => n + r.rowsWritten, 0)
    noteEvent(request, { metric: 'workspace', endpoint, statements: results.length, rowsRead, rowsWritten })
    const [first] = results
    const body: QueryAnswer | BatchAnswer = options.single && first ? { success: true, data: first } : { success: true, data: results }
    return { status: 200, body }
  }
  const answer = await withIdempotency(app.store, `workspace:${workspace.id}`, idempotencyKey(request), request.body, operation)
  if (answer.replayed) reply.header('idempotency-replayed', 'true')
  return reply.code(answer.status).send(answer.body)
}

/** onRequest: the metrics count every request of the endpoint, refused ones included. */
const counted =
  (endpoint: WorkspaceEvent['endpoint']) =>
  async (request: FastifyRequest): Promise<void> =>
    noteEvent(request, { metric: 'workspace', endpoint })

const plugin: FastifyPluginAsync = async (app) => {
  const bodyLimit = app.config.workspaces.maxBodyBytes

  app.get<{ Params: WorkspaceParams; Reply: WorkspaceInfo }>('/v1/db/:namespace/:database', { onRequest: counted('info') }, async (request) => {
    const workspace = await authorizedWorkspace(app, request)
    return {
      success: true,
      data: {
        namespace: workspace.namespace,
        database: workspace.database,
        identity: workspace.repository,
        usage: app.workspaces.usage(workspace),
        limits: app.workspaces.limits
      }
    }
  })

  app.post<{ Params: WorkspaceParams; Body: QueryBody }>(
    '/v1/db/:namespace/:database/query',
    { bodyLimit, onRequest: [counted('query'), requireBearer], schema: { body: QueryBody } },
    async (request, reply) => {
      const workspace = await authorizedWorkspace(app, request)
      return runStatements(app, request, reply, workspace, [request.body], { transaction: false, single: true })
    }
  )

  app.post<{ Params: WorkspaceParams; Body: BatchBody }>(
    '/v1/db/:namespace/:database/batch',
    { bodyLimit, onRequest: [counted('batch'), requireBearer], schema: { body: BatchBody } },
    async (request, reply) => {
      const workspace = await authorizedWorkspace(app, request)
      return runStatements(app, request, reply, workspace, request.body.statements, { transaction: request.body.transaction ?? false, single: false })
    }
  )

  app.get<{ Params: WorkspaceParams; Reply: TablesAnswer }>('/v1/db/:namespace/:database/tables', { onRequest: counted('tables') }, async (request) => {
    const workspace = await authorizedWorkspace(app, request)
    return { success: true, data: await app.workspaces.tables(workspace) }
  })
}

export const workspaceRoutes = fp(plugin, { name: 'federate-workspace-routes', fastify: '5.x', dependencies: [SERVICES] })
