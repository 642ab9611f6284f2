/**
 * The OIDC token's claims, decoded without verification (the server verifies; we only
 * need them to explain ourselves): debug log, job summary, error messages.
 */
export interface TokenClaims {
  sub?: string
  aud?: string | string[]
  iss?: string
  repository?: string
  repository_id?: string
  repository_owner?: string
  ref?: string
  event_name?: string
  workflow?: string
  job_workflow_ref?: string
  environment?: string
  run_id?: string
  iat?: number
  exp?: number
}

/** Claims from a JWT's payload; {} for anything that is not one (never throws, never echoes it). */
export function decodeClaims(jwt: string): TokenClaims {
  const payload = jwt.split('.')[1]
  if (!payload) return {}
  try {
    const parsed: unknown = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8'))
    return parsed !== null && typeof parsed === 'object' ? parsed : {}
  } catch {
    return {}
  }
}

/** What to write a trust policy from: logged with debug on. */
export const DEBUG_CLAIMS = ['sub', 'aud', 'iss', 'repository', 'repository_id', 'repository_owner_id', 'ref', 'event_name', 'job_workflow_ref', 'environment'] as const

export function audienceText(claims: TokenClaims, fallback: string): string {
  const aud = claims.aud
  if (Array.isArray(aud)) return aud.join(', ')
  return aud ?? fallback
}

/** Rows of the summary table, from the token, not the runner's variables. */
export function summaryClaimRows(claims: TokenClaims, audience: string): Array<[string, string]> {
  return [
    ['repository', claims.repository ?? ''],
    ['ref', claims.ref ?? ''],
    ['event', claims.event_name ?? ''],
    ['workflow', claims.job_workflow_ref ?? claims.workflow ?? ''],
    ['environment', claims.environment ?? ''],
    ['audience', audienceText(claims, audience)]
  ]
}
