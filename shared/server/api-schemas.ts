/**
 * Response schemas and documentation of every route, keyed by "METHOD /path". openapi.ts
 * adds them in @fastify/swagger's `transform`, when the OpenAPI document is generated, to
 * each route's own request schema; the routes Fastify compiles never carry them. Request
 * schemas stay in the route modules, responses live here. A route without an entry fails
 * the OpenAPI tests.
 */

const string = { type: 'string' } as const
const dateTime = { type: 'string', format: 'date-time' } as const
const nullableDateTime = { type: ['string', 'null'], format: 'date-time' } as const
const nullableString = { type: ['string', 'null'] } as const
const uuid = { type: 'string', format: 'uuid' } as const

/** Protocol A error envelope. */
export const errorA = {
  type: 'object',
  additionalProperties: false,
  required: ['error', 'error_description'],
  properties: {
    error: { type: 'string', description: 'stable error code, e.g. trust_policy_violation' },
    error_description: { type: 'string', description: 'what went wrong and what to do' }
  }
} as const

/** Protocol B error envelope. */
export const errorB = {
  type: 'object',
  additionalProperties: false,
  required: ['success', 'error', 'code'],
  properties: {
    success: { type: 'boolean', enum: [false] },
    error: { type: 'string', description: 'what went wrong and what to do' },
    code: { type: 'string', description: 'stable error code, e.g. event_not_permitted' }
  }
} as const

const errorsA = (...statuses: number[]): Record<number, unknown> =>
  Object.fromEntries(statuses.map((s) => [s, { description: ERROR_TEXT[s] ?? 'error', ...errorA }]))
const errorsB = (...statuses: number[]): Record<number, unknown> =>
  Object.fromEntries(statuses.map((s) => [s, { description: ERROR_TEXT[s] ?? 'error', ...errorB }]))

const ERROR_TEXT: Record<number, string> = {
  400: 'invalid_request: malformed body, parameter or token',
  401: 'invalid_token: missing, invalid, expired or revoked bearer',
  403: 'refused by a trust rule (trust_policy_violation, branch_not_permitted, event_not_permitted, insufficient_scope, forbidden, agent_limit_reached)',
  404: 'unknown resource (agent_not_found, not_found)',
  409: 'agent_exists: the name belongs to another repository; idempotency_key_in_use: a request with the same Idempotency-Key is still running',
  413: 'request body larger than 64 KiB',
  415: 'unsupported content type',
  422: 'idempotency_key_reused: the same Idempotency-Key with another body',
  429: 'rate_limited: see Retry-After (per repository, per new agents of a repository, or per client address after too many failures before verification)',
  503: 'temporarily_unavailable: the OIDC issuer keys or the database could not be reached'
}

const trustPolicy = {
  type: 'object',
  additionalProperties: false,
  required: ['id', 'provider', 'repository', 'createdAt'],
  properties: {
    id: uuid,
    provider: { type: 'string', enum: ['github'] },
    repository: { type: 'string', description: 'owner/repo, matched exactly (case-insensitive)' },
    repositoryId: string,
    repositoryOwnerId: string,
    branch: { type: 'string', description: 'matches ref == refs/heads/<branch> only' },
    environment: string,
    workflowRef: { type: 'string', description: 'the job_workflow_ref claim' },
    agentId: uuid,
    events: { type: 'array', items: string },
    issuer: { type: 'string', description: "the OIDC issuer whose tokens the policy is for (the token's iss); a token of another issuer never matches" },
    createdAt: dateTime
  }
} as const

const agent = {
  type: 'object',
  additionalProperties: false,
  required: ['agentId', 'name', 'description', 'repository', 'repositoryId', 'status', 'createdAt', 'lastUsedAt'],
  properties: {
    agentId: uuid,
    name: string,
    description: string,
    repository: string,
    repositoryId: string,
    status: { type: 'string', enum: ['active', 'disabled'] },
    createdAt: dateTime,
    lastUsedAt: nullableDateTime
  }
} as const

const credential = {
  type: 'object',
  additionalProperties: false,
  required: ['id', 'kind', 'scope', 'status', 'agentId', 'repository', 'createdAt', 'expiresAt', 'lastUsedAt', 'revokedAt'],
  properties: {
    id: { ...uuid, description: 'the token id (jti); the token itself is never stored' },
    kind: { type: 'string', enum: ['bootstrap', 'agent', 'workspace'] },
    scope: string,
    status: { type: 'string', enum: ['active', 'expired', 'revoked'] },
    agentId: { type: ['string', 'null'], format: 'uuid' },
    workspaceId: { type: ['string', 'null'], format: 'uuid' },
    repository: string,
    createdAt: dateTime,
    expiresAt: dateTime,
    lastUsedAt: nullableDateTime,
    revokedAt: nullableDateTime
  }
} as const

const auditEvent = {
  type: 'object',
  additionalProperties: false,
  required: ['id', 'at', 'action', 'identityId', 'credentialId', 'repository', 'detail'],
  properties: {
    id: uuid,
    at: dateTime,
    action: { type: 'string', description: 'token.exchange, agent.register, workspace.federate, credential.revoke, ...' },
    identityId: nullableString,
    credentialId: nullableString,
    repository: nullableString,
    detail: { type: 'object', additionalProperties: true, description: 'outcome, code, reason, tokenSha256 (never a token)' }
  }
} as const

const items = (item: unknown, description: string): Record<string, unknown> => ({
  description,
  type: 'object',
  additionalProperties: false,
  required: ['items'],
  properties: { items: { type: 'array', items: item } }
})

const exchangeAnswer = {
  description: 'a short-lived access token',
  type: 'object',
  additionalProperties: false,
  required: ['access_token', 'token_type', 'expires_in', 'expires_at', 'scope'],
  properties: {
    access_token: { type: 'string', description: 'JWT signed by the server (see /.well-known/jwks.json)' },
    token_type: { type: 'string', enum: ['Bearer'] },
    expires_in: { type: 'integer', minimum: 1 },
    expires_at: dateTime,
    scope: { type: 'string', enum: ['agents:write', 'agent'] },
    agent_id: uuid
  }
} as const

const explainAnswer = {
  description: 'the decision the exchange would take; nothing is issued',
  type: 'object',
  additionalProperties: false,
  required: ['allowed', 'claims'],
  properties: {
    allowed: { type: 'boolean' },
    policyId: uuid,
    closestPolicyId: uuid,
    code: string,
    reason: string,
    claim: { type: 'string', description: 'the claim that differs from the closest policy' },
    claims: { type: 'object', additionalProperties: true, description: "the token's non-secret claims" }
  }
} as const

const registered = {
  type: 'object',
  additionalProperties: false,
  required: ['agentId', 'name', 'description', 'createdAt', 'created'],
  properties: { agentId: uuid, name: string, description: string, createdAt: dateTime, created: { type: 'boolean' } }
} as const

const workspace = {
  type: 'object',
  additionalProperties: false,
  required: ['success', 'data'],
  properties: {
    success: { type: 'boolean', enum: [true] },
    data: {
      type: 'object',
      additionalProperties: false,
      required: ['token', 'url', 'namespace', 'database', 'identity', 'created', 'expiresAt'],
      properties: {
        token: { type: 'string', description: 'opaque workspace token (fws_...), valid 1 hour' },
        url: { type: 'string', format: 'uri' },
        namespace: string,
        database: string,
        identity: { type: 'string', description: 'owner/repo' },
        created: { type: 'boolean' },
        expiresAt: dateTime
      }
    }
  }
} as const

const signingKey = {
  type: 'object',
  additionalProperties: false,
  required: ['kid', 'alg', 'createdAt', 'signing', 'signsFrom', 'retiresAt'],
  properties: {
    kid: string,
    alg: string,
    createdAt: dateTime,
    signing: { type: 'boolean', description: 'true for the key new tokens are signed with now' },
    signsFrom: { ...dateTime, description: 'when it signs new tokens: 15 s after a rotation, once every instance knows it' },
    retiresAt: { ...nullableDateTime, description: 'when the key leaves the JWKS (its last token has expired)' }
  }
} as const

export type Security = 'admin' | 'accessToken' | 'oidcToken' | 'workspaceToken' | 'none'

export interface RouteDoc {
  summary: string
  tags: string[]
  security: Security
  response: Record<number, unknown>
  /** Documented path parameters (validated by the handlers themselves). */
  params?: Record<string, string>
  /** Content types the body may come in (default application/json). */
  consumes?: string[]
  produces?: string[]
}

const admin = (summary: string, response: Record<number, unknown>, params?: Record<string, string>): RouteDoc => ({
  summary,
  tags: ['admin'],
  security: 'admin',
  response: { ...response, ...errorsA(400, 401, 404) },
  params
})

const agentParam = { id: 'agent id (UUID)' }

export const ROUTE_DOCS: Record<string, RouteDoc> = {
  'POST /api/v1/oidc/token': {
    summary: 'Exchange a GitHub OIDC token for an access token (bootstrap or agent-scoped)',
    tags: ['protocol A'],
    security: 'none',
    response: { 200: exchangeAnswer, ...errorsA(400, 401, 403, 404, 413, 415, 429, 503) }
  },
  'POST /api/v1/oidc/explain': {
    summary: 'Which trust policy an exchange would match, or the claim that differs; issues nothing',
    tags: ['protocol A'],
    security: 'none',
    response: { 200: explainAnswer, ...errorsA(400, 401, 429, 503) }
  },
  'POST /api/v1/oidc/trust-policies': {
    ...admin('Create a trust policy', { 201: { description: 'created', ...trustPolicy } }),
    tags: ['admin', 'trust policies']
  },
  'GET /api/v1/oidc/trust-policies': {
    ...admin('List trust policies', { 200: items(trustPolicy, 'all trust policies, oldest first') }),
    tags: ['admin', 'trust policies']
  },
  'DELETE /api/v1/oidc/trust-policies/:id': {
    ...admin('Delete a trust policy', { 204: { description: 'deleted', type: 'null' } }, { id: 'policy id (UUID)' }),
    tags: ['admin', 'trust policies']
  },
  'POST /api/v1/agents': {
    summary: 'Register an agent (idempotent per repository; Idempotency-Key supported)',
    tags: ['protocol A'],
    security: 'accessToken',
    response: {
      200: { description: 'the agent already existed for this repository', ...registered },
      201: { description: 'registered', ...registered },
      ...errorsA(400, 401, 403, 409, 413, 415, 422, 429)
    }
  },
  'GET /api/v1/agents/:id': admin('Show an agent', { 200: { description: 'the agent', ...agent } }, agentParam),
  'GET /api/v1/agents/:id/credentials': admin(
    "An agent's credentials, newest first",
    { 200: items(credential, 'credentials (no secrets)') },
    agentParam
  ),
  'POST /api/v1/agents/:id/credentials/:credentialId/revoke': admin(
    'Revoke one credential; it stops working at once',
    { 200: { description: 'the revoked credential', ...credential } },
    { ...agentParam, credentialId: 'credential id (UUID, the token jti)' }
  ),
  'POST /api/v1/credentials/:id/revoke': admin(
    'Revoke any credential (bootstrap, agent or workspace token) by its id; it stops working at once',
    { 200: { description: 'the revoked credential', ...credential } },
    { id: 'credential id (UUID: the token jti, or introspection\'s jti for a workspace token)' }
  ),
  'POST /api/v1/agents/:id/disable': admin(
    'Disable an agent: no new tokens, existing ones stop working',
    { 200: { description: 'the disabled agent', ...agent } },
    agentParam
  ),
  'GET /api/v1/agents/:id/audit': admin("An agent's audit events, newest first", { 200: items(auditEvent, 'events') }, agentParam),
  'GET /api/v1/audit': admin('Recent audit events of every identity (denials included), newest first', {
    200: items(auditEvent, 'events')
  }),
  'POST /api/v1/oauth/introspect': {
    ...admin('RFC 7662 token introspection', {
      200: {
        description: '{"active": false} or the claims of a live token',
        type: 'object',
        additionalProperties: true,
        required: ['active'],
        properties: { active: { type: 'boolean' }, scope: string, sub: string, exp: { type: 'integer' }, jti: string }
      }
    }),
    consumes: ['application/json', 'application/x-www-form-urlencoded']
  },
  'POST /api/v1/oauth/revoke': {
    summary: 'RFC 7009 token revocation (any token the caller holds; unknown tokens answer the same)',
    tags: ['protocol A'],
    security: 'none',
    consumes: ['application/json', 'application/x-www-form-urlencoded'],
    response: {
      200: { description: 'revoked (or nothing to revoke)', type: 'object', additionalProperties: false, properties: {} },
      ...errorsA(400, 413, 415)
    }
  },
  'POST /v1/identity/federate': {
    summary: 'Self sign-up: the workflow identity gets its workspace and a workspace token',
    tags: ['protocol B'],
    security: 'oidcToken',
    response: {
      200: { description: 'existing workspace, fresh token', ...workspace },
      201: { description: 'workspace created', ...workspace },
      ...errorsB(400, 401, 403, 429, 503)
    }
  },
  'GET /v1/db/:namespace/:database': {
    summary: 'The workspace a workspace token opens',
    tags: ['protocol B'],
    security: 'workspaceToken',
    params: { namespace: 'workspace namespace', database: 'database name (main)' },
    response: {
      200: {
        description: 'the workspace',
        type: 'object',
        additionalProperties: false,
        required: ['success', 'data'],
        properties: {
          success: { type: 'boolean', enum: [true] },
          data: {
            type: 'object',
            additionalProperties: false,
            required: ['namespace', 'database', 'identity'],
            properties: { namespace: string, database: string, identity: string }
          }
        }
      },
      ...errorsB(401, 403, 404)
    }
  },
  'GET /.well-known/jwks.json': {
    summary: "The public keys that verify the server's access tokens, newest first",
    tags: ['meta'],
    security: 'none',
    response: {
      200: {
        description: 'JWK set',
        type: 'object',
        required: ['keys'],
        properties: {
          keys: {
            type: 'array',
            items: {
              type: 'object',
              additionalProperties: true,
              required: ['kty', 'kid', 'alg'],
              properties: { kty: string, kid: string, alg: string, use: string, crv: string, x: string, y: string }
            }
          }
        }
      }
    }
  },
  'GET /healthz': {
    summary: 'Readiness: 200 once the database answers',
    tags: ['meta'],
    security: 'none',
    response: {
      200: { description: 'ready', type: 'object', additionalProperties: false, required: ['status'], properties: { status: { type: 'string', enum: ['ok'] } } },
      503: { description: 'database unreachable', type: 'object', additionalProperties: false, required: ['status'], properties: { status: { type: 'string', enum: ['unavailable'] } } }
    }
  },
  'GET /openapi.json': {
    summary: 'This document',
    tags: ['meta'],
    security: 'none',
    response: { 200: { description: 'OpenAPI 3.1 document', type: 'object', additionalProperties: true } }
  },
  'GET /metrics': {
    summary: 'Prometheus metrics (text exposition format 0.0.4)',
    tags: ['meta'],
    security: 'none',
    produces: ['text/plain'],
    response: { 200: { description: 'metrics', type: 'string' } }
  },
  'GET /api/v1/signing-keys': {
    ...admin('The signing keys: the one in use and the retiring ones', { 200: items(signingKey, 'keys, newest first') }),
    tags: ['admin', 'signing keys']
  },
  'POST /api/v1/signing-keys/rotate': {
    ...admin('Add a new signing key: published at once, signing 15 s later; the old one stays in the JWKS until its last token expires', {
      201: { description: 'the new key', ...signingKey }
    }),
    tags: ['admin', 'signing keys']
  }
}

/** "METHOD /path" of a Fastify route. */
export function routeKey(method: string, url: string): string {
  return `${method} ${url}`
}
