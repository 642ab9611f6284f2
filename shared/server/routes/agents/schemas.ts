/** Agent registration (Protocol A): body, answer and documentation. */
import { Type, type Static } from '@sinclair/typebox'
import { DateTime, Uuid, described, errorsA, type RouteDocs } from '../docs'

export const RegisterBody = Type.Object(
  {
    name: Type.String({ minLength: 3, maxLength: 254 }),
    description: Type.Optional(Type.String({ maxLength: 1024 })),
    owner: Type.Optional(Type.String({ maxLength: 256, description: 'who answers for the agent (free text)' })),
    allowedScopes: Type.Optional(Type.Array(Type.String({ maxLength: 64 }), { maxItems: 32, description: 'a cap over the scopes of every policy naming the agent' })),
    expiresAt: Type.Optional(Type.String({ maxLength: 64, description: 'ISO 8601 date-time in the future: from then on every exchange for the agent is 403 agent_expired' }))
  },
  { additionalProperties: false }
)
export type RegisterBody = Static<typeof RegisterBody>

export const Registered = Type.Object(
  {
    agentId: Uuid,
    name: Type.String(),
    description: Type.String(),
    createdAt: DateTime,
    created: Type.Boolean(),
    owner: Type.Union([Type.String(), Type.Null()]),
    allowedScopes: Type.Union([Type.Array(Type.String()), Type.Null()]),
    expiresAt: Type.Union([DateTime, Type.Null()])
  },
  { additionalProperties: false, description: 'owner, allowedScopes and expiresAt are the stored ones: set at creation, changed by an administrator (PATCH)' }
)
export type Registered = Static<typeof Registered>

export const agentDocs: RouteDocs = {
  'POST /api/v1/agents': {
    operationId: 'registerAgent',
    summary: 'Register an agent (idempotent per repository; Idempotency-Key supported)',
    tags: ['protocol A'],
    security: 'accessToken',
    response: {
      200: described('the agent already existed for this repository', Registered),
      201: described('registered', Registered),
      ...errorsA(400, 401, 403, 409, 413, 415, 422, 429)
    }
  }
}
