/** Exchange and explain (Protocol A): request and answers, and their documentation. */
import { Type, type Static } from '@sinclair/typebox'
import { DateTime, StringEnum, Uuid, described, errorsA, type RouteDocs } from '../docs'

/** The exchange/explain body; unknown fields are refused. */
export const ExchangeBody = Type.Object(
  {
    provider: Type.String({ maxLength: 64 }),
    token: Type.String({ maxLength: 16384 }),
    agentId: Type.Optional(Type.String({ maxLength: 64 })),
    ttl: Type.Optional(Type.Integer({ minimum: 1, maximum: 86400 })),
    scope: Type.Optional(
      Type.String({
        maxLength: 2048,
        description:
          "space-separated scopes to ask for, a subset of what the policy grants; default: all of them (agent exchange: the policy's scopes capped by the agent's allowedScopes, or `agent`; bootstrap: `agents:write`)"
      })
    ),
    audience: Type.Optional(Type.String({ maxLength: 512, description: "the token's audience: the server's URL (default) or one of the policy's audiences" }))
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
    scope: Type.String({
      description: "the granted scopes, space-separated: `agents:write` (bootstrap), `agent` (an agent policy without scopes) or the policy's scopes asked for"
    }),
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
    scope: Type.Optional(Type.String({ description: 'allowed: the scopes the exchange would grant, space-separated' })),
    audience: Type.Optional(Type.String({ description: "allowed: the token's audience" })),
    expiresIn: Type.Optional(Type.Integer({ minimum: 1, description: "allowed: the token's lifetime in seconds" })),
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
    response: { 200: described('the decision the exchange would take, and what it would grant; nothing is issued', ExplainAnswer), ...errorsA(400, 401, 429, 503) }
  }
}
