/**
 * Signing-key administration (admin): list the keys, rotate (add a new signing key), or
 * rotate in an emergency (`{"emergency": true}`: the new key signs at once and every other
 * key is withdrawn now, with every token it signed).
 */
import type { FastifyPluginAsync } from 'fastify'
import type { AppOptions } from '../context'
import { adminOnly } from '../http'

interface RotateBody {
  emergency?: boolean
}

/** Optional: no body or `{}` is a normal rotation. */
const rotateBodySchema = {
  type: 'object',
  description: 'optional: no body, or {}, is a normal rotation',
  additionalProperties: false,
  properties: {
    emergency: {
      type: 'boolean',
      description:
        'true when a key may have leaked: the new key signs at once, every other key leaves the JWKS now and every token it signed is refused (other instances within 10 s); default false'
    }
  }
} as const

export const keyRoutes: FastifyPluginAsync<AppOptions> = async (app, { context }) => {
  const admin = adminOnly(context.config.adminToken)

  app.get('/api/v1/signing-keys', { onRequest: admin }, async () => {
    await context.keys.refreshIfStale()
    return { items: context.keys.list() }
  })

  app.post<{ Body: RotateBody | undefined }>(
    '/api/v1/signing-keys/rotate',
    {
      onRequest: admin,
      // No body at all is the empty object (a normal rotation), then judged by the schema.
      preValidation: async (request) => {
        request.body ??= {}
      },
      schema: { body: rotateBodySchema }
    },
    async (request, reply) => {
      if (request.body?.emergency === true) {
        const { key, withdrawn } = await context.keys.rotateEmergency()
        await context.store.audit.record({ action: 'signing_key.rotate', detail: { kid: key.kid, by: 'admin', emergency: true, withdrawn } })
        return reply.code(201).send(key)
      }
      const key = await context.keys.rotate()
      await context.store.audit.record({ action: 'signing_key.rotate', detail: { kid: key.kid, by: 'admin' } })
      return reply.code(201).send(key)
    }
  )
}
