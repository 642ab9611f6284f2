/**
 * The standard OAuth surface: RFC 8414 discovery, the RFC 8693 token endpoint, RFC 7662
 * introspection (admin or an introspection client), RFC 7009 revocation, and the admin API of
 * introspection clients: bodies, answers and documentation.
 */
import { Type, type Static } from '@sinclair/typebox'
import { DateTime, ErrorA, Items, StringEnum, Uuid, adminDoc, described, errorsA, type RouteDocs } from '../docs'

export const TokenBody = Type.Object(
  {
    token: Type.String({ minLength: 1, maxLength: 16384 }),
    token_type_hint: Type.Optional(Type.String({ maxLength: 64 })),
    // Standard OAuth client libraries send these; we authenticate by other means.
    client_id: Type.Optional(Type.String({ maxLength: 256 })),
    client_secret: Type.Optional(Type.String({ maxLength: 1024 }))
  },
  { additionalProperties: false }
)
export type TokenBody = Static<typeof TokenBody>

const FORMS = ['application/json', 'application/x-www-form-urlencoded']

export const GRANT_TOKEN_EXCHANGE = 'urn:ietf:params:oauth:grant-type:token-exchange'
export const TOKEN_TYPE_ACCESS_TOKEN = 'urn:ietf:params:oauth:token-type:access_token'
export const TOKEN_TYPE_JWT = 'urn:ietf:params:oauth:token-type:jwt'
export const TOKEN_TYPE_ID_TOKEN = 'urn:ietf:params:oauth:token-type:id_token'

const param = (description: string, maxLength = 1024) => Type.Optional(Type.String({ maxLength, description }))

/**
 * RFC 8693 request. Every parameter is optional here: the handler checks them in the order of
 * the RFC and answers its error codes. Unknown parameters are ignored (RFC 6749 section 3.2).
 */
export const TokenExchangeBody = Type.Object(
  {
    grant_type: param(GRANT_TOKEN_EXCHANGE, 256),
    subject_token: param("the job's GitHub OIDC token, minted for the audience PUBLIC_URL", 16384),
    subject_token_type: param(`${TOKEN_TYPE_ID_TOKEN} or ${TOKEN_TYPE_JWT}`, 256),
    requested_token_type: param(`${TOKEN_TYPE_ACCESS_TOKEN} (default) or ${TOKEN_TYPE_JWT}`, 256),
    scope: param('space-separated scopes; default: what the trust policy grants'),
    audience: param("the audience of the access token; default and only value without a policy's audiences: the server's URL"),
    resource: param('RFC 8707 resource indicator; the same as audience (give one of them)'),
    agent_id: param('extension: the agent to issue for (UUID); without it the exchange is a bootstrap', 64),
    client_id: param('accepted and ignored: the subject token is the credential', 256),
    actor_token: param('not supported: delegation is refused (400 invalid_request)', 16384),
    actor_token_type: param('not supported', 256)
  },
  { additionalProperties: true }
)
export type TokenExchangeBody = Static<typeof TokenExchangeBody>

export const TokenExchangeAnswer = Type.Object(
  {
    access_token: Type.String({ description: 'JWT signed by the server (see jwks_uri)' }),
    issued_token_type: StringEnum([TOKEN_TYPE_ACCESS_TOKEN]),
    token_type: StringEnum(['Bearer']),
    expires_in: Type.Integer({ minimum: 1 }),
    scope: Type.String({ description: 'the scopes granted, space-separated' })
  },
  { additionalProperties: false }
)
export type TokenExchangeAnswer = Static<typeof TokenExchangeAnswer>

export const SCOPES_SUPPORTED = ['agent', 'agents:write', 'db:read', 'db:write']

/** RFC 8414 metadata. */
export const AuthorizationServerMetadata = Type.Object(
  {
    issuer: Type.String({ description: "the server's PUBLIC_URL, exactly" }),
    token_endpoint: Type.String(),
    introspection_endpoint: Type.String(),
    revocation_endpoint: Type.String(),
    jwks_uri: Type.String(),
    grant_types_supported: Type.Array(Type.String()),
    response_types_supported: Type.Array(Type.String(), { description: 'empty: there is no authorization endpoint (REQUIRED by RFC 8414)' }),
    scopes_supported: Type.Array(Type.String()),
    token_endpoint_auth_methods_supported: Type.Array(Type.String()),
    introspection_endpoint_auth_methods_supported: Type.Array(Type.String()),
    revocation_endpoint_auth_methods_supported: Type.Array(Type.String()),
    service_documentation: Type.String({ description: "the server's OpenAPI document, every operation described" })
  },
  { additionalProperties: false }
)
export type AuthorizationServerMetadata = Static<typeof AuthorizationServerMetadata>

export const ClientBody = Type.Object(
  { name: Type.String({ minLength: 1, maxLength: 200, pattern: '^[^\\u0000-\\u001f\\u007f]+$', description: 'who the client is, for people (no control characters)' }) },
  { additionalProperties: false }
)
export type ClientBody = Static<typeof ClientBody>

export const ClientView = Type.Object(
  { client_id: Uuid, name: Type.String(), createdAt: DateTime },
  { additionalProperties: false, description: 'an introspection client; its secret is never shown again' }
)
export type ClientView = Static<typeof ClientView>

export const CreatedClient = Type.Object(
  {
    client_id: Uuid,
    client_secret: Type.String({ description: 'fic_ + 43 characters; shown this once, only its scrypt hash is stored' }),
    name: Type.String(),
    createdAt: DateTime
  },
  { additionalProperties: false }
)
export type CreatedClient = Static<typeof CreatedClient>

const clients = ['admin', 'oauth clients']

const tokenError = (description: string) => described(description, ErrorA)

export const oauthDocs: RouteDocs = {
  'GET /.well-known/oauth-authorization-server': {
    operationId: 'getAuthorizationServerMetadata',
    summary: 'RFC 8414 authorization server metadata: the endpoints, grant type, scopes and client authentication methods',
    tags: ['oauth'],
    security: 'none',
    response: { 200: described('the metadata', AuthorizationServerMetadata) }
  },
  'POST /api/v1/oauth/token': {
    operationId: 'tokenExchange',
    summary: 'RFC 8693 token exchange: a GitHub OIDC token (subject_token) for an access token, under the same trust rules as POST /api/v1/oidc/token',
    tags: ['oauth'],
    security: 'none',
    consumes: ['application/x-www-form-urlencoded'],
    response: {
      200: described('a short-lived access token (Cache-Control: no-store)', TokenExchangeAnswer),
      400: tokenError(
        'RFC 6749 5.2: unsupported_grant_type; invalid_request (a parameter missing or wrong, an invalid or untrusted subject_token); invalid_grant (refused by a trust rule, the reason in error_description); invalid_scope; invalid_target'
      ),
      415: tokenError('invalid_request: the body is not application/x-www-form-urlencoded'),
      ...errorsA(413, 429, 503)
    }
  },
  'POST /api/v1/clients': {
    ...adminDoc(
      'createOAuthClient',
      'Create an introspection client: its client_secret is in this answer only',
      { 201: described('created', CreatedClient) },
      undefined,
      clients
    ),
    consumes: ['application/json']
  },
  'GET /api/v1/clients': adminDoc(
    'listOAuthClients',
    'List introspection clients (never their secrets)',
    { 200: described('clients, oldest first', Items(ClientView)) },
    undefined,
    clients
  ),
  'DELETE /api/v1/clients/:client_id': adminDoc(
    'deleteOAuthClient',
    'Delete an introspection client: its credentials stop working at once',
    { 204: { description: 'deleted', type: 'null' } },
    { client_id: 'client id (UUID)' },
    clients
  ),
  'POST /api/v1/oauth/introspect': {
    ...adminDoc('introspectToken', 'RFC 7662 token introspection (the admin token, or an introspection client with HTTP Basic)', {
      200: {
        description: '{"active": false} or the claims of a live token',
        type: 'object',
        additionalProperties: true,
        required: ['active'],
        properties: { active: { type: 'boolean' }, scope: { type: 'string' }, sub: { type: 'string' }, exp: { type: 'integer' }, jti: { type: 'string' } }
      }
    }),
    security: 'introspection',
    consumes: FORMS
  },
  'POST /api/v1/oauth/revoke': {
    operationId: 'revokeToken',
    summary: 'RFC 7009 token revocation (any token the caller holds; unknown tokens answer the same)',
    tags: ['protocol A'],
    security: 'none',
    consumes: FORMS,
    response: {
      200: { description: 'revoked (or nothing to revoke)', type: 'object', additionalProperties: false, properties: {} },
      ...errorsA(400, 413, 415)
    }
  }
}
