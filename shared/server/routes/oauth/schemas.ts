/** RFC 7662 introspection and RFC 7009 revocation: body and documentation. */
import { Type, type Static } from '@sinclair/typebox'
import { adminDoc, errorsA, type RouteDocs } from '../docs'

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

export const oauthDocs: RouteDocs = {
  'POST /api/v1/oauth/introspect': {
    ...adminDoc('introspectToken', 'RFC 7662 token introspection', {
      200: {
        description: '{"active": false} or the claims of a live token',
        type: 'object',
        additionalProperties: true,
        required: ['active'],
        properties: { active: { type: 'boolean' }, scope: { type: 'string' }, sub: { type: 'string' }, exp: { type: 'integer' }, jti: { type: 'string' } }
      }
    }),
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
