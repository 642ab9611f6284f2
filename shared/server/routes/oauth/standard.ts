/**
 * The standard OAuth face of the exchange: RFC 8414 metadata and the RFC 8693 token
 * endpoint. The token endpoint runs exchangeToken (the same verification, trust rules, rate
 * limits and audit as POST /api/v1/oidc/token) and answers its refusals as RFC 6749 5.2 errors.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify'
import { ApiError, badRequest, refusalOf } from '../../errors'
import { isUuid } from '../../http'
import { exchangeToken } from '../exchange/exchange'
import {
  GRANT_TOKEN_EXCHANGE,
  SCOPES_SUPPORTED,
  TOKEN_TYPE_ACCESS_TOKEN,
  TOKEN_TYPE_ID_TOKEN,
  TOKEN_TYPE_JWT,
  TokenExchangeBody,
  type AuthorizationServerMetadata,
  type TokenExchangeAnswer
} from './schemas'

export const METADATA_PATH = '/.well-known/oauth-authorization-server'

/** Refusals of the trust rules: the grant (the subject token) is valid but not good for this. */
const GRANT_REFUSALS = new Set(['trust_policy_violation', 'branch_not_permitted', 'event_not_permitted', 'agent_not_found', 'agent_expired'])

/** An exchange refusal as RFC 6749 5.2 / RFC 8693 2.2.2 say it. */
function asTokenError(error: unknown, url: string): unknown {
  const refusal = refusalOf(error, url)
  if (!refusal) return error // a bug or an outage: 500 as anywhere else
  if (refusal.status === 429 || refusal.status === 503) return refusal // keep the status and Retry-After
  if (refusal.code === 'invalid_scope' || refusal.code === 'invalid_target') return refusal
  if (GRANT_REFUSALS.has(refusal.code)) return new ApiError(400, 'invalid_grant', `${refusal.code}: ${refusal.message}`, {}, { cause: error })
  // A malformed, invalid or untrusted subject token, or a wrong parameter (RFC 8693 2.2.2).
  return new ApiError(400, 'invalid_request', refusal.message, {}, { cause: error })
}

function mediaType(request: FastifyRequest): string {
  return (request.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase()
}

/** The parameters in the order RFC 8693 gives them; answers the exchange's input. */
function exchangeInput(body: TokenExchangeBody): { token: string; agentId?: string; scope?: string; audience?: string } {
  if (body.grant_type === undefined) throw badRequest('grant_type is required')
  if (body.grant_type !== GRANT_TOKEN_EXCHANGE) {
    throw new ApiError(400, 'unsupported_grant_type', `grant_type "${body.grant_type.slice(0, 100)}" is not supported; the only one is ${GRANT_TOKEN_EXCHANGE}`)
  }
  if (!body.subject_token) throw badRequest("subject_token is required: the job's GitHub OIDC token")
  if (!body.subject_token_type) throw badRequest(`subject_token_type is required: ${TOKEN_TYPE_ID_TOKEN} or ${TOKEN_TYPE_JWT}`)
  if (body.subject_token_type !== TOKEN_TYPE_ID_TOKEN && body.subject_token_type !== TOKEN_TYPE_JWT) {
    throw badRequest(`subject_token_type "${body.subject_token_type.slice(0, 100)}" is not supported; use ${TOKEN_TYPE_ID_TOKEN} or ${TOKEN_TYPE_JWT}`)
  }
  if (body.actor_token !== undefined || body.actor_token_type !== undefined) throw badRequest('actor_token is not supported: this server does no delegation')
  const requested = body.requested_token_type
  if (requested !== undefined && requested !== TOKEN_TYPE_ACCESS_TOKEN && requested !== TOKEN_TYPE_JWT) {
    throw badRequest(`requested_token_type "${requested.slice(0, 100)}" is not supported; this server issues ${TOKEN_TYPE_ACCESS_TOKEN} (a JWT)`)
  }
  if (body.agent_id !== undefined && !isUuid(body.agent_id)) throw badRequest('agent_id must be a UUID')
  if (body.audience !== undefined && body.resource !== undefined) throw badRequest('give audience or resource, not both')
  const audience = body.audience ?? body.resource
  if (audience === '') throw badRequest('audience (or resource) must not be empty')
  if (body.scope !== undefined && body.scope.trim() === '') throw badRequest('scope must not be empty')
  return {
    token: body.subject_token,
    ...(body.agent_id !== undefined ? { agentId: body.agent_id } : {}),
    ...(body.scope !== undefined ? { scope: body.scope } : {}),
    ...(audience !== undefined ? { audience } : {})
  }
}

export function standardRoutes(app: FastifyInstance): void {
  app.get<{ Reply: AuthorizationServerMetadata }>(METADATA_PATH, async (_request, reply) => {
    // Changes only with a deployment; as long-lived as the JWKS.
    reply.header('cache-control', 'public, max-age=300')
    const issuer = app.publicUrl()
    const base = issuer.replace(/\/+$/, '')
    return {
      issuer,
      token_endpoint: `${base}/api/v1/oauth/token`,
      introspection_endpoint: `${base}/api/v1/oauth/introspect`,
      revocation_endpoint: `${base}/api/v1/oauth/revoke`,
      jwks_uri: `${base}/.well-known/jwks.json`,
      grant_types_supported: [GRANT_TOKEN_EXCHANGE],
      response_types_supported: [],
      scopes_supported: SCOPES_SUPPORTED,
      token_endpoint_auth_methods_supported: ['none'],
      introspection_endpoint_auth_methods_supported: ['client_secret_basic'],
      revocation_endpoint_auth_methods_supported: ['none'],
      // The server's own description of every operation (docs/protocol.md is its prose).
      service_documentation: `${base}/openapi.json`
    }
  })

  app.post<{ Body: TokenExchangeBody; Reply: TokenExchangeAnswer }>(
    '/api/v1/oauth/token',
    {
      // RFC 6749 3.2: form parameters only; judged before the body is read.
      onRequest: async (request, reply) => {
        // Every answer of the token endpoint, refusals included, must not be cached (RFC 6749 5.1).
        reply.header('cache-control', 'no-store').header('pragma', 'no-cache')
        if (mediaType(request) !== 'application/x-www-form-urlencoded') {
          throw new ApiError(415, 'invalid_request', 'send the parameters as application/x-www-form-urlencoded (RFC 6749 section 3.2)')
        }
      },
      preValidation: async (request) => {
        request.body ??= {}
      },
      schema: { body: TokenExchangeBody }
    },
    async (request) => {
      const input = exchangeInput(request.body)
      let issued
      try {
        issued = await exchangeToken(app, request, input)
      } catch (error) {
        throw asTokenError(error, request.url)
      }
      return {
        access_token: issued.token,
        issued_token_type: TOKEN_TYPE_ACCESS_TOKEN,
        token_type: 'Bearer',
        expires_in: issued.expiresIn,
        scope: issued.scope
      }
    }
  )
}
