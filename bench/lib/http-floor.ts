// The HTTP floor of the exchange: a Fastify server with one route that takes the same body,
// validates it with the same JSON schema and answers a token-sized JSON body, with no token
// verification, signing or database. What the framework, JSON and the sockets cost per
// request on this machine, as a reference for the exchange's rate. Prints its URL.
import Fastify from 'fastify'
import { ExchangeBody } from '../../shared/server/routes/exchange/schemas'

const app = Fastify({ logger: false })
const accessToken = 'x'.repeat(512) // about the size of the ES256 access token the server issues
app.post<{ Body: ExchangeBody }>('/api/v1/oidc/token', { schema: { body: ExchangeBody } }, async (request, reply) => {
  reply.header('cache-control', 'no-store')
  return { access_token: accessToken, token_type: 'Bearer', expires_in: 900, expires_at: new Date().toISOString(), scope: 'agent', agent_id: request.body.agentId }
})
const url = await app.listen({ host: '127.0.0.1', port: 0 })
console.log(url)
process.on('SIGTERM', () => void app.close().then(() => process.exit(0)))
