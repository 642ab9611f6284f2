import { OidcTokenError, quote } from './errors'
import { findUnsafeText, textProblem } from './storable-text'
import { GITHUB_NAME_RULES, isGitHubOwner, isGitHubRepository } from './github-names'

/**
 * The claims of a GitHub Actions OIDC token that the server reads. All ids are strings,
 * as GitHub sends them. Other claims GitHub adds are kept under the index signature.
 */
export interface GitHubTokenClaims {
  iss: string
  sub: string
  aud: string | string[]
  iat: number
  exp: number
  nbf: number
  jti?: string
  repository: string
  repository_id: string
  repository_owner: string
  repository_owner_id: string
  repository_visibility?: string
  ref: string
  ref_type?: string
  sha?: string
  event_name: string
  environment?: string
  workflow?: string
  workflow_ref?: string
  job_workflow_ref: string
  actor?: string
  actor_id?: string
  run_id?: string
  run_number?: string
  run_attempt?: string
  runner_environment?: string
  head_ref?: string
  base_ref?: string
  [claim: string]: unknown
}

/** GitHub claims every decision depends on: a token without one of them cannot be matched to a policy. */
export const REQUIRED_GITHUB_CLAIMS = ['sub', 'repository', 'repository_id', 'repository_owner', 'repository_owner_id', 'ref', 'event_name', 'job_workflow_ref'] as const

/** Optional claims that, when present, must be strings (policies compare them). */
const OPTIONAL_STRING_CLAIMS = ['environment', 'ref_type', 'workflow', 'workflow_ref', 'sha'] as const

/**
 * Refuses a payload with a NUL or an unpaired UTF-16 surrogate in any claim name or string
 * value, at any depth. Claims end up in audit details and rows (PostgreSQL text and jsonb
 * refuse NUL, jsonb refuses unpaired surrogates, UTF-8 encoding silently replaces them);
 * GitHub never sends such text, so a signed token that has it is a bad request, not a 500.
 * @throws OidcTokenError invalid_request naming the claim
 */
function assertStorableText(payload: Record<string, unknown>): void {
  for (const claim of Object.keys(payload)) {
    const nameProblem = textProblem(claim)
    const problem = nameProblem ?? findUnsafeText(payload[claim])?.problem
    if (problem) {
      throw new OidcTokenError(
        'invalid_request',
        `token claim ${quote(claim, 60)} contains ${problem}; GitHub never sends such text and it cannot be stored`,
        nameProblem ? {} : { claim }
      )
    }
  }
}

/**
 * Checks the GitHub-specific claims of an already signature-checked payload.
 * @throws OidcTokenError invalid_request for a NUL or an unpaired surrogate in any claim;
 *   invalid_token naming the missing or malformed claim
 */
export function assertGitHubClaims(payload: Record<string, unknown>): GitHubTokenClaims {
  assertStorableText(payload)
  for (const claim of REQUIRED_GITHUB_CLAIMS) {
    const value = payload[claim]
    if (value === undefined) {
      throw new OidcTokenError('invalid_token', `token has no "${claim}" claim; only GitHub Actions OIDC tokens are accepted`, { claim })
    }
    if (typeof value !== 'string' || value.length === 0) {
      throw new OidcTokenError('invalid_token', `token claim "${claim}" must be a non-empty string, got ${quote(value, 40)}`, { claim })
    }
  }
  for (const claim of ['repository_id', 'repository_owner_id'] as const) {
    if (!/^[0-9]{1,20}$/.test(payload[claim] as string)) {
      throw new OidcTokenError('invalid_token', `token claim "${claim}" must be a numeric string, got ${quote(payload[claim], 40)}`, { claim })
    }
  }
  // Names are matched to policies case-insensitively in ASCII only: anything outside GitHub's
  // ASCII character set (a Kelvin sign for "K", fullwidth letters, a second slash) is refused.
  if (!isGitHubRepository(payload.repository as string)) {
    throw new OidcTokenError('invalid_token', `token claim "repository" ${quote(payload.repository, 140)} is not a GitHub repository name (${GITHUB_NAME_RULES})`, {
      claim: 'repository'
    })
  }
  if (!isGitHubOwner(payload.repository_owner as string)) {
    throw new OidcTokenError(
      'invalid_token',
      `token claim "repository_owner" ${quote(payload.repository_owner, 60)} is not a GitHub account name (ASCII letters, digits and "-", at most 39)`,
      { claim: 'repository_owner' }
    )
  }
  for (const claim of OPTIONAL_STRING_CLAIMS) {
    const value = payload[claim]
    if (value !== undefined && typeof value !== 'string') {
      throw new OidcTokenError('invalid_token', `token claim "${claim}" must be a string, got ${quote(value, 40)}`, { claim })
    }
  }
  return payload as GitHubTokenClaims
}
