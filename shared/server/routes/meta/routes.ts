/** JWKS and health. */
import type { FastifyPluginAsync } from 'fastify'
import fp from 'fastify-plugin'
import { SERVICES } from '../../services'

const plugin: FastifyPluginAsync = async (app) => {
  app.get('/.well-known/jwks.json', async (_request, reply) => {
    reply.header('cache-control', 'public, max-age=300')
    await app.keys.refreshIfStale() // a rotation on another instance shows within seconds
    return app.keys.jwks()
  })

  app.get('/healthz', async (_request, reply) => {
    try {
      await app.store.ping()
    } catch {
      return reply.code(503).send({ status: 'unavailable' })
    }
    return { status: 'ok' }
  })
}

export const metaRoutes = fp(plugin, { name: 'federate-meta-routes', fastify: '5.x', dependencies: [SERVICES] })
