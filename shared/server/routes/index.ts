/**
 * Every route, grouped by who calls it: the exchange and its dry run, federate and the
 * workspace, agent registration (workflows); the admin API; OAuth introspection and
 * revocation; meta (JWKS, health). ROUTE_DOCS gathers each group's documentation.
 */
import type { FastifyInstance } from 'fastify'
import { identityRoutes } from './admin/identities'
import { keyRoutes } from './admin/keys'
import { policyRoutes } from './admin/policies'
import { adminDocs } from './admin/schemas'
import { workspaceAdminRoutes } from './admin/workspaces'
import { agentRoutes } from './agents/routes'
import { agentDocs } from './agents/schemas'
import type { RouteDocs } from './docs'
import { exchangeRoutes } from './exchange/routes'
import { exchangeDocs } from './exchange/schemas'
import { federateRoutes } from './federate/routes'
import { federateDocs } from './federate/schemas'
import { metaRoutes } from './meta/routes'
import { metaDocs } from './meta/schemas'
import { oauthRoutes } from './oauth/routes'
import { oauthDocs } from './oauth/schemas'
import { workspaceRoutes } from './workspace/routes'
import { workspaceDocs } from './workspace/schemas'

export { frameworkAnswers, routeKey, type RouteDoc, type Security } from './docs'

export const ROUTE_DOCS: RouteDocs = { ...exchangeDocs, ...federateDocs, ...workspaceDocs, ...agentDocs, ...adminDocs, ...oauthDocs, ...metaDocs }

/** Registers every route plugin (each declares the services it depends on). */
export async function registerRoutes(app: FastifyInstance): Promise<void> {
  for (const routes of [
    metaRoutes,
    exchangeRoutes,
    policyRoutes,
    agentRoutes,
    identityRoutes,
    keyRoutes,
    workspaceAdminRoutes,
    oauthRoutes,
    federateRoutes,
    workspaceRoutes
  ]) {
    await app.register(routes)
  }
}
