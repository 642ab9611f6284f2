/** Exchange and explain (Protocol A): request and answers, and their documentation. */
import { Type, type Static } from '@sinclair/typebox'
import { DateTime, StringEnum, Uuid, described, errorsA, type RouteDocs } from '../docs'

/** The exchange/explain body; unknown fields are refused. */
export const ExchangeBody = Type.Object(
  {
    provider: Type.String({ maxLength: 64 }),
    token: Type.String({ maxLength: 16384 }),
    agentId: Type.Optional(Type.String({ maxLength: 64 })),
    ttl: Type.Optional(Type.Integer({ minimum: 1, maximum: 86400 }))
  },
  { additionalProperties: false }
)
export type ExchangeBody = Static<typeof ExchangeBody>

export const ExchangeAnswer = Type.Object(
  {
    access_token: Type.String({ description: 'JWT signed by the server (see /.well-known/jwks.json)' }),
    token_type: StringEnum(['Bearer']),
    expires_in: Type.Integer({ minimum: 1 }),
    expires_at: DateTime,
    scope: StringEnum(['agents:write', 'agent']),
    agent_id: Type.Optional(Uuid)
  },
  { additionalProperties: false }
)
export type ExchangeAnswer = Static<typeof ExchangeAnswer>

export const ExplainAnswer = Type.Object(
  {
    allowed: Type.Boolean(),
    policyId: Type.Optional(Uuid),
    closestPolicyId: Type.Optional(Uuid),
    code: Type.Optional(Type.String()),
    reason: Type.Optional(Type.String()),
    claim: Type.Optional(Type.String({ description: 'the claim that differs from the closest policy' })),
    claims: Type.Record(Type.String(), Type.Unknown(), { description: "the token's non-secret claims" })
  },
  { additionalProperties: false }
)
export type ExplainAnswer = Static<typeof ExplainAnswer>

export const exchangeDocs: RouteDocs = {
  'POST /api/v1/oidc/token': {
    operationId: 'exchangeToken',
    summary: 'Exchange a GitHub OIDC token for an access token (bootstrap or agent-scoped)',
    tags: ['protocol A'],
    security: 'none',
    response: { 200: described('a short-lived access token', ExchangeAnswer), ...errorsA(400, 401, 403, 404, 413, 415, 429, 503) }
  },
  'POST /api/v1/oidc/explain': {
    operationId: 'explainExchange',
    summary: 'Which trust policy an exchange would match, or the claim that differs; issues nothing',
    tags: ['protocol A'],
    security: 'none',
    response: { 200: described('the decision the exchange would take; nothing is issued', ExplainAnswer), ...errorsA(400, 401, 429, 503) }
  }
}
