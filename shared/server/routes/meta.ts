/** JWKS and health. */
import type { FastifyPluginAsync } from 'fastify'
import type { AppOptions } from '../context'

export const metaRoutes: FastifyPluginAsync<AppOptions> = async (app, { context }) => {
  app.get('/.well-known/jwks.json', async (_request, reply) => {
    reply.header('cache-control', 'public, max-age=300')
    await context.keys.refreshIfStale() // a rotation on another instance shows within seconds
    return context.keys.jwks()
  })

  app.get('/healthz', async (_request, reply) => {
    try {
      await context.store.ping()
    } catch {
      return reply.code(503).send({ status: 'unavailable' })
    }
    return { status: 'ok' }
  })
}
