/** Small request helpers shared by the route modules. */
import { createHash, timingSafeEqual } from 'node:crypto'
import type { FastifyRequest, onRequestAsyncHookHandler } from 'fastify'
import { ApiError, unauthorized } from './errors'
import { noteIdentity } from './request-facts'

export const UUID_PATTERN = '^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$'
const UUID_RE = new RegExp(UUID_PATTERN)

export function isUuid(value: unknown): value is string {
  return typeof value === 'string' && UUID_RE.test(value)
}

/** The bearer credential of the Authorization header, or undefined. */
export function bearerToken(request: FastifyRequest): string | undefined {
  const header = request.headers.authorization
  if (typeof header !== 'string') return undefined
  const match = /^Bearer[ \t]+([^\s]+)[ \t]*$/i.exec(header)
  return match?.[1]
}

/** Compares in constant time (hashing first hides the length too). */
export function secretEquals(a: string, b: string): boolean {
  const ha = createHash('sha256').update(a).digest()
  const hb = createHash('sha256').update(b).digest()
  return timingSafeEqual(ha, hb)
}

/** Throws 401 unless the request carries the admin token. */
export function requireAdmin(request: FastifyRequest, adminToken: string): void {
  const token = bearerToken(request)
  if (!token || !secretEquals(token, adminToken)) {
    throw unauthorized('this endpoint needs the admin token as "Authorization: Bearer <ADMIN_TOKEN>"')
  }
  noteIdentity(request, 'admin')
}

/** onRequest hook of authenticated routes: no credentials is a 401 before the body is read or judged. */
export async function requireBearer(request: FastifyRequest): Promise<void> {
  if (!bearerToken(request)) throw unauthorized('missing "Authorization: Bearer <token>"')
}

/** Path parameter that must be a UUID: 400 otherwise (never a database error). */
export function uuidParam(value: unknown, name: string): string {
  if (!isUuid(value)) throw new ApiError(400, 'invalid_request', `${name} must be a UUID`)
  return value.toLowerCase()
}

/** onRequest hook: the admin check runs before the body is even read. */
export function adminOnly(adminToken: string): onRequestAsyncHookHandler {
  return async (request) => requireAdmin(request, adminToken)
}
