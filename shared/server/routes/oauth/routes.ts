/**
 * The standard OAuth surface: RFC 8414 metadata and the RFC 8693 token endpoint
 * (standard.ts), introspection clients (clients.ts), RFC 7662 introspection (the admin or an
 * introspection client) and RFC 7009 revocation (whoever holds the token).
 */
import type { FastifyPluginAsync } from 'fastify'
import fp from 'fastify-plugin'
import { SERVICES } from '../../services'
import { TokenRejected } from '../../tokens'
import { adminOrIntrospectionClient } from './client-auth'
import { clientRoutes } from './clients'
import { TokenBody } from './schemas'
import { standardRoutes } from './standard'

const plugin: FastifyPluginAsync = async (app) => {
  const { store, tokens } = app
  standardRoutes(app)
  clientRoutes(app)

  app.post<{ Body: TokenBody }>('/api/v1/oauth/introspect', { onRequest: adminOrIntrospectionClient(app), schema: { body: TokenBody } }, async (request, reply) => {
    reply.header('cache-control', 'no-store')
    const { token } = request.body
    try {
      if (token.startsWith('fws_')) {
        const { credential, workspace } = await tokens.authenticateWorkspaceToken(token)
        return {
          active: true,
          token_type: 'Bearer',
          scope: credential.scope,
          sub: `repo:${workspace.repository}`,
          iss: app.publicUrl(),
          jti: credential.id,
          iat: Math.floor(credential.createdAt.getTime() / 1000),
          exp: Math.floor(credential.expiresAt.getTime() / 1000),
          namespace: workspace.namespace,
          repository: workspace.repository
        }
      }
      const { claims, credential } = await tokens.authenticateAccessToken(token, { anyAudience: true })
      return {
        active: true,
        token_type: 'Bearer',
        ...claims,
        ...(credential.agentId ? { agent_id: credential.agentId } : {})
      }
    } catch (error) {
      if (error instanceof TokenRejected) return { active: false }
      throw error
    }
  })

  app.post<{ Body: TokenBody }>('/api/v1/oauth/revoke', { schema: { body: TokenBody } }, async (request, reply) => {
    const credential = await tokens.findCredential(request.body.token)
    if (credential && !credential.revokedAt) {
      await store.credentials.revoke(credential.id)
      await store.audit.record({
        action: 'credential.revoke',
        identityId: credential.agentId,
        credentialId: credential.id,
        workspaceId: credential.workspaceId,
        repository: credential.repository,
        repositoryId: credential.repositoryId,
        detail: { by: 'token holder', kind: credential.kind }
      })
    }
    // RFC 7009: an unknown or already invalid token is answered the same way.
    return reply.code(200).send({})
  })
}

export const oauthRoutes = fp(plugin, { name: 'federate-oauth-routes', fastify: '5.x', dependencies: [SERVICES] })
