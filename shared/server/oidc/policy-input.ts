/**
 * Validation of a trust policy sent to the admin API. Strict on purpose: a policy that can
 * never match (a typo, a pattern, a full ref) is refused with a reason instead of stored.
 *
 * Decisions: `branch` is a bare branch name (`main`); `refs/...` is refused because a branch
 * policy must never match tags or pull-request refs, and patterns are refused because
 * matching is exact. Ids are numeric strings as in the token's claims. `agentId` is stored
 * lower-case. `null` for an optional field means unset.
 */
import type { TrustPolicy } from './policy'
import { GITHUB_EVENTS } from './events'
import { GITHUB_NAME_RULES, isGitHubRepository } from './github-names'

/** The issuer is the route's to decide (it depends on the configured issuers). */
export type PolicyInput = Omit<TrustPolicy, 'id' | 'createdAt' | 'issuer'>
export type PolicyInputResult = { ok: true; value: PolicyInput } | { ok: false; reason: string }

const FIELDS = [
  'provider',
  'repository',
  'repositoryId',
  'repositoryOwnerId',
  'branch',
  'environment',
  'workflowRef',
  'agentId',
  'events',
  'scopes',
  'audiences',
  'maxTtl'
] as const

const NUMERIC_ID = /^[1-9][0-9]{0,19}$/
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i
/** owner/repo/path@ref, as GitHub writes job_workflow_ref. */
const WORKFLOW_REF = /^[A-Za-z0-9][A-Za-z0-9-]{0,38}\/[A-Za-z0-9._-]{1,100}\/[^@\s]+@[^\s]+$/
const PATTERN_CHARS = /[*?[\]]/
/** One scope: what an exchange may ask for and a policy or an agent may allow. */
export const SCOPE_PATTERN = /^[A-Za-z0-9:._-]{1,64}$/
export const MAX_SCOPES = 32
export const MAX_AUDIENCES = 16
export const MIN_POLICY_TTL = 60
export const MAX_POLICY_TTL = 86400
/** Reserved: only the bootstrap exchange grants it (agent registration). */
const BOOTSTRAP_SCOPE = 'agents:write'
const URI_SCHEME = /^[A-Za-z][A-Za-z0-9+.-]*:/
// eslint-disable-next-line no-control-regex
const CONTROL_CHARS = /[\u0000-\u001f\u007f]/

class Invalid extends Error {}

function optionalString(body: Record<string, unknown>, field: string, max: number): string | undefined {
  const value = body[field]
  if (value === undefined || value === null) return undefined
  if (typeof value !== 'string') throw new Invalid(`${field} must be a string`)
  if (value.length === 0) throw new Invalid(`${field} must not be empty (leave it out to not restrict it)`)
  if (value.length > max) throw new Invalid(`${field} is longer than ${max} characters`)
  if (CONTROL_CHARS.test(value)) throw new Invalid(`${field} must not contain control characters`)
  return value
}

/** git check-ref-format rules for one branch name, plus "no refs/ prefix, no patterns". */
function branchProblem(branch: string): string | undefined {
  if (branch.startsWith('refs/')) {
    return `branch must be a branch name without "refs/heads/" (e.g. "main"), got ${JSON.stringify(branch)}; tag and pull-request refs cannot be trusted by a branch policy`
  }
  if (PATTERN_CHARS.test(branch)) return `branch ${JSON.stringify(branch)} looks like a pattern; patterns are not supported, give one exact branch name`
  const bad =
    /[\s~^:\\]/.test(branch) ||
    branch.includes('..') ||
    branch.includes('@{') ||
    branch.includes('//') ||
    branch === '@' ||
    branch.startsWith('/') ||
    branch.startsWith('-') ||
    branch.endsWith('/') ||
    branch.endsWith('.') ||
    branch.endsWith('.lock') ||
    branch.split('/').some((part) => part.startsWith('.'))
  return bad ? `branch ${JSON.stringify(branch)} is not a valid git branch name` : undefined
}

function parse(body: Record<string, unknown>): PolicyInput {
  const unknown = Object.keys(body).filter((key) => !(FIELDS as readonly string[]).includes(key))
  if (unknown.length > 0) {
    throw new Invalid(`unknown field${unknown.length > 1 ? 's' : ''} ${unknown.map((k) => JSON.stringify(k.slice(0, 40))).join(', ')}; allowed: ${FIELDS.join(', ')}`)
  }
  if (body.provider !== 'github') throw new Invalid('provider must be "github"')

  const repository = optionalString(body, 'repository', 140)
  if (repository === undefined) throw new Invalid('repository is required ("owner/name")')
  if (PATTERN_CHARS.test(repository)) throw new Invalid('repository must be one exact "owner/name"; patterns are not supported')
  // The same ASCII set as the token's claim (github-names.ts): a policy name with a character
  // outside it could only ever match through Unicode case folding.
  if (!isGitHubRepository(repository)) {
    throw new Invalid(`repository must be ${GITHUB_NAME_RULES}, got ${JSON.stringify(repository)}`)
  }
  const value: PolicyInput = { provider: 'github', repository }

  for (const field of ['repositoryId', 'repositoryOwnerId'] as const) {
    const raw = body[field]
    if (raw === undefined || raw === null) continue
    if (typeof raw !== 'string' || !NUMERIC_ID.test(raw)) {
      const claim = field === 'repositoryId' ? 'repository_id' : 'repository_owner_id'
      throw new Invalid(`${field} must be a string of digits as in the token's ${claim} claim (e.g. "123456789")`)
    }
    value[field] = raw
  }

  const branch = optionalString(body, 'branch', 255)
  if (branch !== undefined) {
    const problem = branchProblem(branch)
    if (problem) throw new Invalid(problem)
    value.branch = branch
  }

  const environment = optionalString(body, 'environment', 255)
  if (environment !== undefined) value.environment = environment

  const workflowRef = optionalString(body, 'workflowRef', 512)
  if (workflowRef !== undefined) {
    if (!WORKFLOW_REF.test(workflowRef)) {
      throw new Invalid(`workflowRef must be the token's job_workflow_ref, "owner/repo/path@ref" (e.g. "acme/widgets/.github/workflows/deploy.yml@refs/heads/main")`)
    }
    value.workflowRef = workflowRef
  }

  const agentId = body.agentId
  if (agentId !== undefined && agentId !== null) {
    if (typeof agentId !== 'string' || !UUID.test(agentId)) throw new Invalid('agentId must be a UUID (the agent-id output of register-agent)')
    value.agentId = agentId.toLowerCase()
  }

  const events = body.events
  if (events !== undefined && events !== null) {
    if (!Array.isArray(events) || events.length === 0 || events.length > GITHUB_EVENTS.length) {
      throw new Invalid('events must be a non-empty array of GitHub event names (leave it out to allow every event except pull_request_target and workflow_run)')
    }
    for (const event of events) {
      if (typeof event !== 'string' || !GITHUB_EVENTS.includes(event)) {
        throw new Invalid(
          `events: ${JSON.stringify(typeof event === 'string' ? event.slice(0, 40) : event)} is not a GitHub event name (e.g. "push", "pull_request", "workflow_dispatch")`
        )
      }
    }
    value.events = [...new Set(events as string[])]
  }
  parseGrant(body, value)
  return value
}

/** A list of scopes (a policy's scopes, an agent's allowedScopes): the reason when it is not one, else undefined. */
export function scopeListProblem(field: string, value: unknown): string | undefined {
  if (!Array.isArray(value) || value.length === 0 || value.length > MAX_SCOPES) return `${field} must be a non-empty array of at most ${MAX_SCOPES} scopes`
  for (const scope of value) {
    if (typeof scope !== 'string' || !SCOPE_PATTERN.test(scope)) {
      return `${field}: ${JSON.stringify(typeof scope === 'string' ? scope.slice(0, 70) : scope)} is not a scope (1 to 64 of A-Z a-z 0-9 : . _ -)`
    }
  }
  return undefined
}

function audienceProblem(audience: unknown): string | undefined {
  const shown = JSON.stringify(typeof audience === 'string' ? audience.slice(0, 70) : audience)
  if (typeof audience !== 'string' || audience.length === 0 || audience.length > 512 || /\s/.test(audience) || CONTROL_CHARS.test(audience)) {
    return `audiences: ${shown} is not an audience (1 to 512 characters without spaces)`
  }
  if (URI_SCHEME.test(audience) && !URL.canParse(audience)) return `audiences: ${shown} is not an absolute URI`
  return undefined
}

/** scopes, audiences and maxTtl: what tokens issued under the policy may carry. */
function parseGrant(body: Record<string, unknown>, value: PolicyInput): void {
  if (body.scopes !== undefined && body.scopes !== null) {
    if (value.agentId === undefined) throw new Invalid('scopes is only for agent policies (with agentId); a bootstrap exchange always grants exactly "agents:write"')
    const problem = scopeListProblem('scopes', body.scopes)
    if (problem) throw new Invalid(problem)
    const scopes = [...new Set(body.scopes as string[])]
    if (scopes.includes(BOOTSTRAP_SCOPE)) throw new Invalid('scopes: "agents:write" is granted only by the bootstrap exchange (a policy without agentId)')
    value.scopes = scopes
  }
  if (body.audiences !== undefined && body.audiences !== null) {
    const audiences = body.audiences
    if (!Array.isArray(audiences) || audiences.length === 0 || audiences.length > MAX_AUDIENCES) {
      throw new Invalid(`audiences must be a non-empty array of at most ${MAX_AUDIENCES} absolute URIs or names`)
    }
    for (const audience of audiences) {
      const problem = audienceProblem(audience)
      if (problem) throw new Invalid(problem)
    }
    value.audiences = [...new Set(audiences as string[])]
  }
  if (body.maxTtl !== undefined && body.maxTtl !== null) {
    const maxTtl = body.maxTtl
    if (typeof maxTtl !== 'number' || !Number.isInteger(maxTtl) || maxTtl < MIN_POLICY_TTL || maxTtl > MAX_POLICY_TTL) {
      throw new Invalid(`maxTtl must be a whole number of seconds from ${MIN_POLICY_TTL} to ${MAX_POLICY_TTL}`)
    }
    value.maxTtl = maxTtl
  }
}

/** Validates an admin's trust-policy body; the reason says which field is wrong and how to fix it. */
export function validatePolicyInput(body: unknown): PolicyInputResult {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    return { ok: false, reason: 'the body must be a JSON object' }
  }
  try {
    return { ok: true, value: parse(body as Record<string, unknown>) }
  } catch (error) {
    if (error instanceof Invalid) return { ok: false, reason: error.message }
    throw error
  }
}
