/** TEMPORARY stand-in for shared/server/oidc/policy.ts (another helper's). Minimal. */
import type { GitHubTokenClaims } from './verifier'

export interface TrustPolicy {
  id: string
  provider: 'github'
  repository: string
  repositoryId?: string
  repositoryOwnerId?: string
  branch?: string
  environment?: string
  workflowRef?: string
  agentId?: string
  events?: string[]
  createdAt: string
}

export type PolicyDecision =
  | { allowed: true; policy: TrustPolicy }
  | {
      allowed: false
      code: 'trust_policy_violation' | 'branch_not_permitted' | 'event_not_permitted'
      reason: string
      closestPolicyId?: string
      claim?: string
    }

const RISKY = ['pull_request_target', 'workflow_run']

export function decide(claims: GitHubTokenClaims, policies: TrustPolicy[], agentId: string | undefined): PolicyDecision {
  const candidates = policies.filter(
    (p) =>
      p.repository.toLowerCase() === claims.repository.toLowerCase() &&
      (p.agentId ?? undefined) === agentId &&
      (!p.repositoryId || p.repositoryId === claims.repository_id)
  )
  if (candidates.length === 0) {
    return { allowed: false, code: 'trust_policy_violation', reason: `no trust policy for ${claims.repository}`, claim: 'repository' }
  }
  const branched = candidates.filter((p) => !p.branch || `refs/heads/${p.branch}` === claims.ref)
  if (branched.length === 0) {
    return { allowed: false, code: 'branch_not_permitted', reason: `ref ${claims.ref} not permitted`, closestPolicyId: candidates[0]!.id, claim: 'ref' }
  }
  const evented = branched.filter((p) => (p.events ? p.events.includes(claims.event_name) : !RISKY.includes(claims.event_name)))
  if (evented.length === 0) {
    return { allowed: false, code: 'event_not_permitted', reason: `event ${claims.event_name} not permitted`, closestPolicyId: branched[0]!.id, claim: 'event_name' }
  }
  return { allowed: true, policy: evented[0]! }
}

export function federateDecision(claims: GitHubTokenClaims, extraEvents: string[]): PolicyDecision {
  if (RISKY.includes(claims.event_name) && !extraEvents.includes(claims.event_name)) {
    return { allowed: false, code: 'event_not_permitted', reason: `event ${claims.event_name} may not federate`, claim: 'event_name' }
  }
  const policy: TrustPolicy = { id: 'federate', provider: 'github', repository: claims.repository, createdAt: new Date(0).toISOString() }
  return { allowed: true, policy }
}

export function validatePolicyInput(
  body: unknown
): { ok: true; value: Omit<TrustPolicy, 'id' | 'createdAt'> } | { ok: false; reason: string } {
  if (typeof body !== 'object' || body === null) return { ok: false, reason: 'body must be a JSON object' }
  const b = body as Record<string, unknown>
  const allowed = ['provider', 'repository', 'repositoryId', 'repositoryOwnerId', 'branch', 'environment', 'workflowRef', 'agentId', 'events']
  const unknown = Object.keys(b).find((k) => !allowed.includes(k))
  if (unknown) return { ok: false, reason: `unknown field "${unknown}"` }
  if (b.provider !== 'github') return { ok: false, reason: 'provider must be "github"' }
  if (typeof b.repository !== 'string' || !/^[A-Za-z0-9_.-]+\/[A-Za-z0-9_.-]+$/.test(b.repository)) {
    return { ok: false, reason: 'repository must be "owner/repo"' }
  }
  return { ok: true, value: b as unknown as Omit<TrustPolicy, 'id' | 'createdAt'> }
}
