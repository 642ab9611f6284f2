/**
 * Trust-policy decisions (docs/protocol.md, "Trust rules").
 *
 * Matching is exact, never by prefix or pattern:
 * - repository: compared case-insensitively, because GitHub names are (GitHub will not create
 *   `Acme/Widgets` next to `acme/widgets`, and the URL of either reaches the same repository).
 *   When the policy pins `repositoryId`, the id decides instead of the name: the policy
 *   survives a rename, and a deleted-and-recreated repository of the same name (new id) is
 *   refused. A pinned `repositoryOwnerId` must equal `repository_owner_id` (refuses a transfer
 *   or a re-created owner account).
 * - branch `main` means `ref == "refs/heads/main"` only (not a tag, not a pull-request ref).
 * - environment: case-insensitive, as GitHub environment names are.
 * - workflowRef: equal to `job_workflow_ref`, case-sensitive (it contains a path and a ref).
 * - events: the policy's list, or when unset every event except pull_request_target and workflow_run.
 * - agentId: bootstrap (no agentId asked) uses only policies naming no agent; agent-scoped
 *   uses only policies naming that agent.
 * - issuer: a policy belongs to one OIDC issuer; a token of another issuer never matches it,
 *   whatever its repository name or id (two issuers may number repositories alike).
 * - agent owner: an agent belongs to the repository id that registered it. A token of another
 *   repository id (a renamed-away name taken by a new repository) gets its tokens only under a
 *   policy that pins that other repository's id explicitly.
 *
 * Denial reasons are returned to clients (explain, error_description). They name the closest
 * policy and the claim that differs with both values, and only ever mention policies of the
 * token's own repository, so a stranger with any GitHub token learns nothing about others.
 */
import type { GitHubTokenClaims } from './claims'
import { OPT_IN_EVENTS } from './events'

export interface TrustPolicy {
  id: string
  provider: 'github'
  /** The OIDC issuer whose tokens this policy is for (exact `iss`). */
  issuer: string
  /** `owner/name` */
  repository: string
  repositoryId?: string
  repositoryOwnerId?: string
  /** Branch name without `refs/heads/`. */
  branch?: string
  environment?: string
  /** Exact `job_workflow_ref`, e.g. `acme/widgets/.github/workflows/deploy.yml@refs/heads/main`. */
  workflowRef?: string
  agentId?: string
  events?: string[]
  /** What an agent policy may grant (absent: `agent`, as before scopes existed). */
  scopes?: string[]
  /** Audiences a token may be issued for besides the server's own URL. */
  audiences?: string[]
  /** Longest lifetime of a token issued under the policy, in seconds. */
  maxTtl?: number
  createdAt: string
}

export type DenialCode = 'trust_policy_violation' | 'branch_not_permitted' | 'event_not_permitted'

export type PolicyDecision = { allowed: true; policy: TrustPolicy } | { allowed: false; code: DenialCode; reason: string; closestPolicyId?: string; claim?: string }

type Denial = Extract<PolicyDecision, { allowed: false }>

/** How far a policy got before a claim differed; the highest rank is the closest policy. */
interface Miss {
  rank: number
  code: DenialCode
  claim: string
  reason: string
}

/**
 * Equal up to ASCII case (A-Z = a-z) and nothing more. Never toLowerCase(): Unicode case
 * mapping makes "\u212A" (KELVIN SIGN) equal to "k", so `acme/\u212Aey` would match `acme/key`.
 */
function sameName(a: string, b: string): boolean {
  if (a.length !== b.length) return false
  for (let i = 0; i < a.length; i++) {
    let x = a.charCodeAt(i)
    let y = b.charCodeAt(i)
    if (x >= 0x41 && x <= 0x5a) x += 0x20
    if (y >= 0x41 && y <= 0x5a) y += 0x20
    if (x !== y) return false
  }
  return true
}

/** True when the policy is about the token's repository (by pinned id, else by name). */
function isForRepository(policy: TrustPolicy, claims: GitHubTokenClaims): boolean {
  return policy.repositoryId !== undefined
    ? policy.repositoryId === claims.repository_id || sameName(policy.repository, claims.repository)
    : sameName(policy.repository, claims.repository)
}

function describeRef(ref: string): string {
  if (ref.startsWith('refs/tags/')) return ' (a tag, not a branch)'
  if (ref.startsWith('refs/pull/')) return ' (a pull request ref, not a branch)'
  return ''
}

/** The agent an agent-scoped exchange asks for: who owns it. */
export interface AgentOwner {
  id: string
  /** repository_id of the repository that registered it. */
  repositoryId: string
}

/** The first claim of `claims` that `policy` does not allow, or undefined when it allows them all. */
function firstMiss(policy: TrustPolicy, claims: GitHubTokenClaims, agent: AgentOwner | undefined): Miss | undefined {
  const p = `policy ${policy.id}`
  const q = JSON.stringify
  if (policy.repositoryId !== undefined) {
    if (policy.repositoryId !== claims.repository_id) {
      if (!sameName(policy.repository, claims.repository)) {
        return { rank: 0, code: 'trust_policy_violation', claim: 'repository', reason: `${p} does not cover repository ${q(claims.repository)}` }
      }
      return {
        rank: 1,
        code: 'trust_policy_violation',
        claim: 'repository_id',
        reason: `${p} pins repository_id ${q(policy.repositoryId)} but the token's repository_id is ${q(claims.repository_id)}: ${q(claims.repository)} is not the repository the policy was made for (deleted and re-created, or replaced); update the policy's repositoryId if this is intended`
      }
    }
  } else if (!sameName(policy.repository, claims.repository)) {
    return { rank: 0, code: 'trust_policy_violation', claim: 'repository', reason: `${p} does not cover repository ${q(claims.repository)}` }
  }
  if (agent && agent.repositoryId !== claims.repository_id && policy.repositoryId !== claims.repository_id) {
    return {
      rank: 1,
      code: 'trust_policy_violation',
      claim: 'repository_id',
      reason: `agent ${q(agent.id)} belongs to repository_id ${q(agent.repositoryId)} (the repository that registered it), but the token's repository_id is ${q(claims.repository_id)}: ${q(claims.repository)} is another repository (renamed, or deleted and re-created); ${p} names the repository only, so it does not hand the agent over; pin repositoryId ${q(claims.repository_id)} in a policy for this agent if this repository should use it`
    }
  }
  if (policy.repositoryOwnerId !== undefined && policy.repositoryOwnerId !== claims.repository_owner_id) {
    return {
      rank: 1,
      code: 'trust_policy_violation',
      claim: 'repository_owner_id',
      reason: `${p} pins repository_owner_id ${q(policy.repositoryOwnerId)} but the token's repository_owner_id is ${q(claims.repository_owner_id)} (owner ${q(claims.repository_owner)})`
    }
  }
  if (policy.branch !== undefined && claims.ref !== `refs/heads/${policy.branch}`) {
    return {
      rank: 2,
      code: 'branch_not_permitted',
      claim: 'ref',
      reason: `${p} allows branch ${q(policy.branch)} (ref ${q(`refs/heads/${policy.branch}`)}) but the token's ref is ${q(claims.ref)}${describeRef(claims.ref)}`
    }
  }
  if (policy.environment !== undefined && (claims.environment === undefined || !sameName(policy.environment, claims.environment))) {
    return {
      rank: 3,
      code: 'trust_policy_violation',
      claim: 'environment',
      reason:
        claims.environment === undefined
          ? `${p} allows environment ${q(policy.environment)} but the token has no environment (set "environment: ${policy.environment}" on the job)`
          : `${p} allows environment ${q(policy.environment)} but the token's environment is ${q(claims.environment)}`
    }
  }
  if (policy.workflowRef !== undefined && policy.workflowRef !== claims.job_workflow_ref) {
    return {
      rank: 4,
      code: 'trust_policy_violation',
      claim: 'job_workflow_ref',
      reason: `${p} allows workflow ${q(policy.workflowRef)} but the token's job_workflow_ref is ${q(claims.job_workflow_ref)}`
    }
  }
  const allowed = policy.events ? policy.events.includes(claims.event_name) : !OPT_IN_EVENTS.includes(claims.event_name)
  if (!allowed) {
    return {
      rank: 5,
      code: 'event_not_permitted',
      claim: 'event_name',
      reason: policy.events
        ? `${p} allows events ${policy.events.map((e) => q(e)).join(', ')} but the token's event_name is ${q(claims.event_name)}`
        : `${p} does not list events, which allows every event except "pull_request_target" and "workflow_run" (they run on untrusted code with the repository's identity), and the token's event_name is ${q(claims.event_name)}; list it in the policy's events to allow it`
    }
  }
  return undefined
}

/**
 * Decides whether `claims` (a verified GitHub OIDC token) may exchange, under `policies`.
 * `agent` undefined is the bootstrap exchange: only policies that name no agent apply.
 * Policies of another issuer than the token's are ignored, as if they did not exist.
 */
export function decide(claims: GitHubTokenClaims, allPolicies: TrustPolicy[], agent: AgentOwner | undefined): PolicyDecision {
  const agentId = agent?.id
  const policies = allPolicies.filter((policy) => policy.issuer === claims.iss)
  const wanted = agentId?.toLowerCase()
  const inScope = policies.filter((policy) => policy.agentId?.toLowerCase() === wanted)
  let closest: { policy: TrustPolicy; miss: Miss } | undefined
  for (const policy of inScope) {
    const miss = firstMiss(policy, claims, agent)
    if (!miss) return { allowed: true, policy }
    if (!closest || miss.rank > closest.miss.rank) closest = { policy, miss }
  }
  if (closest && closest.miss.rank > 0) {
    const { policy, miss } = closest
    return { allowed: false, code: miss.code, reason: miss.reason, closestPolicyId: policy.id, claim: miss.claim }
  }
  return noPolicyForRepository(claims, policies, agentId)
}

function noPolicyForRepository(claims: GitHubTokenClaims, policies: TrustPolicy[], agentId: string | undefined): Denial {
  const repo = JSON.stringify(claims.repository)
  const sameRepo = policies.filter((policy) => isForRepository(policy, claims))
  const base =
    agentId === undefined ? `no trust policy without an agentId allows repository ${repo}` : `no trust policy allows agent ${JSON.stringify(agentId)} from repository ${repo}`
  let hint: string
  if (sameRepo.length === 0) {
    hint = 'repository names must match exactly; an administrator must create a trust policy for this repository'
  } else if (agentId === undefined) {
    hint = `the policies for this repository (${sameRepo.map((p) => p.id).join(', ')}) each name an agent; the bootstrap exchange (register-agent) needs a policy without agentId`
  } else {
    hint = `the policies for this repository (${sameRepo.map((p) => p.id).join(', ')}) name no agent or another agent; create one with agentId ${JSON.stringify(agentId)}`
  }
  const denial: Denial = { allowed: false, code: 'trust_policy_violation', reason: `${base}: ${hint}`, claim: 'repository' }
  if (sameRepo[0]) denial.closestPolicyId = sameRepo[0].id
  return denial
}

/**
 * Protocol B (self sign-up) has no stored policy: every repository may federate, except
 * tokens of pull_request_target and workflow_run events unless `extraEvents` (FEDERATE_EVENTS)
 * lists them. The allowed decision carries a synthetic policy with id "federate" that pins
 * the token's repository and owner ids.
 */
export function federateDecision(claims: GitHubTokenClaims, extraEvents: string[]): PolicyDecision {
  const event = claims.event_name
  if (OPT_IN_EVENTS.includes(event) && !extraEvents.includes(event)) {
    return {
      allowed: false,
      code: 'event_not_permitted',
      claim: 'event_name',
      reason: `tokens of ${JSON.stringify(event)} events cannot federate: that event runs with the repository's identity on untrusted code; the server operator can allow it with FEDERATE_EVENTS=${event}`
    }
  }
  return {
    allowed: true,
    policy: {
      id: 'federate',
      provider: 'github',
      issuer: claims.iss,
      repository: claims.repository,
      repositoryId: claims.repository_id,
      repositoryOwnerId: claims.repository_owner_id,
      createdAt: new Date(0).toISOString()
    }
  }
}
