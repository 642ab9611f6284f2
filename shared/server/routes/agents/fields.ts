/** The agent fields a registration sets and an admin changes: owner, allowedScopes, expiresAt. */
import { badRequest } from '../../errors'
import { scopeListProblem } from '../../oidc/policy-input'

export const MAX_OWNER_LENGTH = 256
// A full date and time with an offset: a bare date or a local time would be read in the server's zone.
const ISO_DATE_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?(?:Z|[+-]\d{2}:\d{2})$/
// eslint-disable-next-line no-control-regex
const CONTROL_CHARS = /[\u0000-\u001f\u007f]/

export function parseOwner(value: string): string {
  if (value.length === 0 || value.length > MAX_OWNER_LENGTH) throw badRequest(`owner must be 1 to ${MAX_OWNER_LENGTH} characters (null clears it)`)
  if (CONTROL_CHARS.test(value)) throw badRequest('owner must not contain control characters')
  return value
}

export function parseAllowedScopes(value: unknown): string[] {
  const problem = scopeListProblem('allowedScopes', value)
  if (problem) throw badRequest(problem)
  return [...new Set(value as string[])]
}

export function parseExpiresAt(value: string): Date {
  const at = ISO_DATE_TIME.test(value) ? new Date(value) : undefined
  if (!at || Number.isNaN(at.getTime())) throw badRequest(`expiresAt must be an ISO 8601 date-time with a time zone, e.g. "2030-01-31T12:00:00Z"`)
  return at
}
