/** Signing-key administration (admin): list the keys, rotate (add a new signing key). */
import type { FastifyPluginAsync } from 'fastify'
import type { AppOptions } from '../app'
import { adminOnly } from '../http'

export const keyRoutes: FastifyPluginAsync<AppOptions> = async (app, { context }) => {
  const admin = adminOnly(context.config.adminToken)

  app.get('/api/v1/signing-keys', { onRequest: admin }, async () => {
    await context.keys.refreshIfStale()
    return { items: context.keys.list() }
  })

  app.post('/api/v1/signing-keys/rotate', { onRequest: admin }, async (_request, reply) => {
    const key = await context.keys.rotate()
    await context.store.audit({ action: 'signing_key.rotate', detail: { kid: key.kid, by: 'admin' } })
    return reply.code(201).send(key)
  })
}
