/**
 * Who may introspect: the admin (bearer ADMIN_TOKEN) or an introspection client with HTTP
 * Basic (RFC 7662 section 2.1). A client's credentials open introspection and nothing else:
 * every other admin route checks the bearer alone, so Basic there is a 401.
 */
import type { FastifyInstance, FastifyRequest, onRequestAsyncHookHandler } from 'fastify'
import { verifyClientSecret } from '../../client-secrets'
import { ApiError } from '../../errors'
import { isUuid, requireAdmin } from '../../http'
import { noteIdentity } from '../../request-facts'

const BASIC_CHALLENGE = 'Basic realm="federate", charset="UTF-8"'

const invalidClient = (message: string): ApiError => new ApiError(401, 'invalid_client', message, { 'www-authenticate': BASIC_CHALLENGE })

/** RFC 6749 2.3.1: client_id and client_secret are form-url-encoded before they are joined. */
function formDecode(value: string): string | undefined {
  try {
    return decodeURIComponent(value.replace(/\+/g, ' '))
  } catch {
    return undefined
  }
}

/** The client id and secret of `Authorization: Basic ...`, or undefined when the header is not Basic. */
export function basicCredentials(request: FastifyRequest): { clientId: string; secret: string } | undefined {
  const header = request.headers.authorization
  if (typeof header !== 'string') return undefined
  const match = /^Basic[ \t]+([A-Za-z0-9+/=]*)[ \t]*$/i.exec(header)
  if (!match) {
    if (/^Basic\b/i.test(header)) throw invalidClient('the Basic credentials are not base64 of client_id:client_secret')
    return undefined
  }
  const decoded = Buffer.from(match[1]!, 'base64').toString('utf8')
  const colon = decoded.indexOf(':')
  const clientId = colon < 0 ? undefined : formDecode(decoded.slice(0, colon))
  const secret = colon < 0 ? undefined : formDecode(decoded.slice(colon + 1))
  if (clientId === undefined || secret === undefined) throw invalidClient('the Basic credentials are not client_id:client_secret (each form-url-encoded)')
  return { clientId, secret }
}

/** onRequest hook of introspection: the admin token, or a client's valid Basic credentials (401 otherwise). */
export function adminOrIntrospectionClient(app: FastifyInstance): onRequestAsyncHookHandler {
  return async (request) => {
    const basic = basicCredentials(request)
    if (!basic) return requireAdmin(request, app.config.adminToken)
    // The same work (one scrypt) whether the client exists or not: the time tells nothing.
    const client = isUuid(basic.clientId) && basic.secret.length <= 1024 ? await app.store.oauthClients.get(basic.clientId.toLowerCase()) : undefined
    const valid = await verifyClientSecret(basic.secret.slice(0, 1024), client?.secretHash)
    if (!client || !valid) throw invalidClient('unknown client or wrong client secret')
    noteIdentity(request, `client:${client.clientId}`)
  }
}
