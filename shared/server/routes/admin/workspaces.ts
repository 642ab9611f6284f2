/** Workspace administration (admin): list and show workspaces with their usage, disable and enable them. */
import type { FastifyInstance, FastifyPluginAsync, FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'
import { ApiError, badRequest } from '../../errors'
import { adminOnly } from '../../http'
import { SERVICES } from '../../services'
import { succeeded, type Workspace } from '../../store/store'
import { workspaceView } from '../../views'
import { WorkspaceListQuery, type WorkspaceAdminView } from './schemas'

const NAMESPACE = /^[a-z0-9-]{1,100}$/
const DEFAULT_LIMIT = 100
const MAX_LIMIT = 1000

interface NamespaceParams {
  namespace: string
}

/** 400 for anything that cannot be a namespace (never a database lookup of arbitrary text). */
function namespaceParam(value: unknown): string {
  if (typeof value !== 'string' || !NAMESPACE.test(value)) throw badRequest('namespace must be 1 to 100 lowercase letters, digits or dashes')
  return value
}

function listLimit(raw: string | undefined): number {
  if (raw === undefined) return DEFAULT_LIMIT
  const limit = Number(raw)
  if (!Number.isInteger(limit) || limit < 1 || limit > MAX_LIMIT) throw badRequest(`limit must be a whole number from 1 to ${MAX_LIMIT}`)
  return limit
}

const view = (app: FastifyInstance, workspace: Workspace): WorkspaceAdminView =>
  workspaceView(workspace, app.workspaces.usage(workspace), app.workspaces.limits) as WorkspaceAdminView

/**
 * Sets the state and audits the call, changed or not (idempotent: a workspace already in that
 * state keeps its disabledAt). Disabling also ends the workspace's open sessions (service).
 */
async function setDisabled(app: FastifyInstance, request: FastifyRequest<{ Params: NamespaceParams }>, disabled: boolean): Promise<WorkspaceAdminView> {
  const namespace = namespaceParam(request.params.namespace)
  const current = await app.store.workspaces.byNamespace(namespace)
  if (!current) throw new ApiError(404, 'not_found', `no workspace ${namespace}`)
  const changed = (current.disabledAt !== null) !== disabled
  const workspace = changed ? await app.workspaces.setDisabled(namespace, disabled) : current
  if (!workspace) throw new ApiError(404, 'not_found', `no workspace ${namespace}`)
  await app.store.audit.record({
    action: disabled ? 'workspace.disable' : 'workspace.enable',
    identityId: workspace.id,
    workspaceId: workspace.id,
    repository: workspace.repository,
    repositoryId: workspace.repositoryId,
    detail: succeeded(changed ? 'changed' : 'unchanged', { by: 'admin', namespace })
  })
  return view(app, workspace)
}

const plugin: FastifyPluginAsync = async (app) => {
  const admin = adminOnly(app.config.adminToken)

  app.get<{ Querystring: WorkspaceListQuery }>('/api/v1/workspaces', { onRequest: admin, schema: { querystring: WorkspaceListQuery } }, async (request) => {
    const workspaces = await app.store.workspaces.list(listLimit(request.query.limit))
    return { items: workspaces.map((w) => view(app, w)) }
  })

  app.get<{ Params: NamespaceParams; Reply: WorkspaceAdminView }>('/api/v1/workspaces/:namespace', { onRequest: admin }, async (request) => {
    const namespace = namespaceParam(request.params.namespace)
    const workspace = await app.store.workspaces.byNamespace(namespace)
    if (!workspace) throw new ApiError(404, 'not_found', `no workspace ${namespace}`)
    return view(app, workspace)
  })

  app.post<{ Params: NamespaceParams; Reply: WorkspaceAdminView }>('/api/v1/workspaces/:namespace/disable', { onRequest: admin }, async (request) =>
    setDisabled(app, request, true)
  )

  app.post<{ Params: NamespaceParams; Reply: WorkspaceAdminView }>('/api/v1/workspaces/:namespace/enable', { onRequest: admin }, async (request) =>
    setDisabled(app, request, false)
  )
}

export const workspaceAdminRoutes = fp(plugin, { name: 'federate-workspace-admin-routes', fastify: '5.x', dependencies: [SERVICES] })
