/** Self sign-up and the workspace endpoint (Protocol B): answers and documentation. */
import { Type, type Static } from '@sinclair/typebox'
import { DateTime, described, errorsB, type RouteDocs } from '../docs'

export const Federated = Type.Object(
  {
    success: Type.Literal(true),
    data: Type.Object(
      {
        token: Type.String({ description: 'opaque workspace token (fws_...), valid 1 hour' }),
        url: Type.String({ format: 'uri' }),
        namespace: Type.String(),
        database: Type.String(),
        identity: Type.String({ description: 'owner/repo' }),
        created: Type.Boolean(),
        expiresAt: DateTime,
        scope: Type.String({ description: 'what the token may do: "db:read db:write" (default) or what the body asked for' })
      },
      { additionalProperties: false }
    )
  },
  { additionalProperties: false }
)
export type Federated = Static<typeof Federated>

export const federateDocs: RouteDocs = {
  'POST /v1/identity/federate': {
    operationId: 'federate',
    summary: 'Self sign-up: the workflow identity gets its workspace and a workspace token',
    tags: ['protocol B'],
    security: 'oidcToken',
    response: {
      200: described('existing workspace, fresh token', Federated),
      201: described('workspace created', Federated),
      ...errorsB(400, 401, 403, 429, 503)
    }
  }
}
