/**
 * What every resource module documents about its routes besides the request schema: the
 * responses (TypeBox schemas, the same the handlers' return types come from), summary, tags,
 * security and path parameters. openapi.ts adds them to the generated document.
 */
import { Type, type TSchema } from '@sinclair/typebox'

/** `introspection`: the admin token, or an introspection client's HTTP Basic credentials. */
export type Security = 'admin' | 'introspection' | 'accessToken' | 'oidcToken' | 'workspaceToken' | 'none'

export interface RouteDoc {
  /** Unique name of the operation (OpenAPI operationId), what generated clients call it. */
  operationId: string
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

/** Documentation of routes, keyed by "METHOD /path" (routeKey). */
export type RouteDocs = Record<string, RouteDoc>

/** "METHOD /path" of a Fastify route. */
export function routeKey(method: string, url: string): string {
  return `${method} ${url}`
}

/** A string of one of `values` (a plain JSON-schema enum, as OpenAPI tools expect it). */
export const StringEnum = <T extends string[]>(values: [...T], options: { description?: string } = {}) => Type.Unsafe<T[number]>({ type: 'string', enum: values, ...options })

export const Uuid = Type.String({ format: 'uuid' })
export const DateTime = Type.String({ format: 'date-time' })
export const NullableDateTime = Type.Union([Type.String({ format: 'date-time' }), Type.Null()])
export const NullableString = Type.Union([Type.String(), Type.Null()])
export const NullableUuid = Type.Union([Type.String({ format: 'uuid' }), Type.Null()])

/** Protocol A error envelope. */
export const ErrorA = Type.Object(
  {
    error: Type.String({ description: 'stable error code, e.g. trust_policy_violation' }),
    error_description: Type.String({ description: 'what went wrong and what to do' })
  },
  { additionalProperties: false }
)

/** Protocol B error envelope. */
export const ErrorB = Type.Object(
  {
    success: Type.Literal(false),
    error: Type.String({ description: 'what went wrong and what to do' }),
    code: Type.String({ description: 'stable error code, e.g. event_not_permitted' })
  },
  { additionalProperties: false }
)

const ERROR_TEXT: Record<number, string> = {
  400: 'invalid_request: malformed body, parameter or token',
  401: 'invalid_token: missing, invalid, expired or revoked bearer',
  403: 'refused by a trust rule (trust_policy_violation, branch_not_permitted, event_not_permitted, insufficient_scope, forbidden, agent_limit_reached)',
  404: 'unknown resource (agent_not_found, not_found)',
  409: 'agent_exists: the name belongs to another repository; idempotency_key_in_use: a request with the same Idempotency-Key is still running',
  413: 'request body larger than 64 KiB',
  414: 'a path parameter longer than 100 characters',
  415: 'unsupported content type',
  422: 'idempotency_key_reused: the same Idempotency-Key with another body',
  429: 'rate_limited: see Retry-After (per repository, per new agents of a repository, or per client address after too many failures before verification)',
  503: 'temporarily_unavailable: the OIDC issuer keys or the database could not be reached'
}

/** `schema` with a description, as a documented response. */
export const described = (description: string, schema: TSchema): Record<string, unknown> => ({ description, ...schema })

export const errorsA = (...statuses: number[]): Record<number, unknown> => Object.fromEntries(statuses.map((s) => [s, described(ERROR_TEXT[s] ?? 'error', ErrorA)]))
export const errorsB = (...statuses: number[]): Record<number, unknown> => Object.fromEntries(statuses.map((s) => [s, described(ERROR_TEXT[s] ?? 'error', ErrorB)]))

/** `{"items": [...]}`, the shape of every list. */
export const Items = <T extends TSchema>(item: T) => Type.Object({ items: Type.Array(item) }, { additionalProperties: false })

/**
 * What Fastify itself answers before the handler runs, in the route's envelope: a path that is
 * not valid percent-encoded UTF-8 (400) or a path parameter over the length limit (414) on a
 * route with path parameters; a malformed body (400), one over 64 KiB (413) or of another
 * content type (415) on a route that takes a body (POST). Added by openapi.ts to each route's
 * documented answers (a route's own description of a status wins).
 */
export function frameworkAnswers(method: string, url: string, protocolB: boolean): Record<number, unknown> {
  const statuses = [...(url.includes(':') ? [400, 414] : []), ...(method === 'POST' ? [400, 413, 415] : [])]
  return (protocolB ? errorsB : errorsA)(...new Set(statuses))
}

/** An admin route's documentation (admin token; 400, 401, 404 besides its own answers). */
export const adminDoc = (operationId: string, summary: string, response: Record<number, unknown>, params?: Record<string, string>, tags = ['admin']): RouteDoc => ({
  operationId,
  summary,
  tags,
  security: 'admin',
  response: { ...response, ...errorsA(400, 401, 404) },
  ...(params ? { params } : {})
})
