/**
 * Signing-key administration (admin): list the keys, rotate (add a new signing key), or
 * rotate in an emergency (`{"emergency": true}`: the new key signs at once and every other
 * key is withdrawn now, with every token it signed).
 */
import type { FastifyPluginAsync } from 'fastify'
import fp from 'fastify-plugin'
import { adminOnly } from '../../http'
import { SERVICES } from '../../services'
import { RotateBody } from './schemas'

const plugin: FastifyPluginAsync = async (app) => {
  const admin = adminOnly(app.config.adminToken)

  app.get('/api/v1/signing-keys', { onRequest: admin }, async () => {
    await app.keys.refreshIfStale()
    return { items: app.keys.list() }
  })

  app.post<{ Body: RotateBody | undefined }>(
    '/api/v1/signing-keys/rotate',
    {
      onRequest: admin,
      // No body at all is the empty object (a normal rotation), then judged by the schema.
      preValidation: async (request) => {
        request.body ??= {}
      },
      schema: { body: RotateBody }
    },
    async (request, reply) => {
      if (request.body?.emergency === true) {
        const { key, withdrawn } = await app.keys.rotateEmergency()
        await app.store.audit.record({ action: 'signing_key.rotate', detail: { kid: key.kid, by: 'admin', emergency: true, withdrawn } })
        return reply.code(201).send(key)
      }
      const key = await app.keys.rotate()
      await app.store.audit.record({ action: 'signing_key.rotate', detail: { kid: key.kid, by: 'admin' } })
      return reply.code(201).send(key)
    }
  )
}

export const keyRoutes = fp(plugin, { name: 'federate-key-routes', fastify: '5.x', dependencies: [SERVICES] })
