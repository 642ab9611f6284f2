/** Introspection clients (admin): create (the secret shown once), list, delete. Audited. */
import { randomUUID } from 'node:crypto'
import type { FastifyInstance } from 'fastify'
import { hashClientSecret, newClientSecret } from '../../client-secrets'
import { ApiError } from '../../errors'
import { adminOnly, uuidParam } from '../../http'
import { succeeded, type OAuthClient } from '../../store/store'
import { ClientBody, type ClientView, type CreatedClient } from './schemas'

const view = (client: OAuthClient): ClientView => ({ client_id: client.clientId, name: client.name, createdAt: client.createdAt.toISOString() })

export function clientRoutes(app: FastifyInstance): void {
  const admin = adminOnly(app.config.adminToken)

  app.post<{ Body: ClientBody; Reply: CreatedClient }>('/api/v1/clients', { onRequest: admin, schema: { body: ClientBody } }, async (request, reply) => {
    const secret = newClientSecret()
    const secretHash = await hashClientSecret(secret)
    const client = await app.store.transaction(async (store) => {
      const created = await store.oauthClients.create({ clientId: randomUUID(), name: request.body.name, secretHash })
      await store.audit.record({
        action: 'oauth_client.create',
        identityId: created.clientId,
        detail: succeeded('created', { clientId: created.clientId, name: created.name, by: 'admin' })
      })
      return created
    })
    reply.header('cache-control', 'no-store')
    return reply.code(201).send({ ...view(client), client_secret: secret })
  })

  app.get<{ Reply: { items: ClientView[] } }>('/api/v1/clients', { onRequest: admin }, async () => ({ items: (await app.store.oauthClients.list()).map(view) }))

  app.delete<{ Params: { client_id: string } }>('/api/v1/clients/:client_id', { onRequest: admin }, async (request, reply) => {
    const clientId = uuidParam(request.params.client_id, 'client_id')
    const deleted = await app.store.transaction(async (store) => {
      const client = await store.oauthClients.get(clientId)
      if (!client || !(await store.oauthClients.delete(clientId))) return undefined
      await store.audit.record({ action: 'oauth_client.delete', identityId: clientId, detail: succeeded('changed', { clientId, name: client.name, by: 'admin' }) })
      return client
    })
    if (!deleted) throw new ApiError(404, 'not_found', `no introspection client ${clientId}`)
    return reply.code(204).send()
  })
}
