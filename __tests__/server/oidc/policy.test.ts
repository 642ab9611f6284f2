import { describe, expect, it } from '@jest/globals'
import { decide, federateDecision, type TrustPolicy } from '../../../shared/server/oidc/policy'
import type { GitHubTokenClaims } from '../../../shared/server/oidc/claims'
import { githubClaims, type RepoIdentity } from '../../../shared/testing/oidc-issuer'

const AGENT = '6f1c2b7e-3a4d-4c5e-9f60-718293a4b5c6'
const OTHER_AGENT = '0b9a8c7d-6e5f-4a3b-8c2d-1e0f9a8b7c6d'

function claimsFor(identity: Partial<RepoIdentity> = {}, extra: Partial<GitHubTokenClaims> = {}): GitHubTokenClaims {
  const base = githubClaims({ repository: 'acme/widgets', repositoryId: '123456789', ownerId: '4242', ...identity })
  const now = 1_700_000_000
  return { ...base, iss: 'https://token.actions.githubusercontent.com', aud: 'https://idp.example.com', iat: now, nbf: now - 600, exp: now + 300, ...extra }
}

let counter = 0
/** An agent registered by the repository of claimsFor()'s default identity. */
const owned = (id: string) => ({ id, repositoryId: '123456789' })
function policy(fields: Partial<TrustPolicy> = {}): TrustPolicy {
  counter++
  return {
    id: `p${counter}`,
    provider: 'github',
    issuer: 'https://token.actions.githubusercontent.com',
    repository: 'acme/widgets',
    createdAt: '2026-01-01T00:00:00.000Z',
    ...fields
  }
}

describe('decide: repository', () => {
  it('allows the exact repository and returns the policy', () => {
    const allowing = policy()
    expect(decide(claimsFor(), [allowing], undefined)).toEqual({ allowed: true, policy: allowing })
  })

  it('compares repository names case-insensitively, as GitHub does', () => {
    expect(decide(claimsFor({ repository: 'Acme/Widgets' }), [policy()], undefined).allowed).toBe(true)
  })

  it.each(['acme/widgets-evil', 'acme/widget', 'evil/widgets', 'widgets/acme', 'acme-evil/widgets', 'acme/widgets.evil'])(
    'refuses %s for a policy on acme/widgets (no prefixes, suffixes or owner swaps)',
    (repository) => {
      const decision = decide(claimsFor({ repository }), [policy()], undefined)
      expect(decision).toMatchObject({ allowed: false, code: 'trust_policy_violation', claim: 'repository' })
    }
  )

  it('says there is no policy for the repository, without naming other repositories', () => {
    const decision = decide(claimsFor({ repository: 'acme/widgets-evil' }), [policy(), policy({ repository: 'secret/project' })], undefined)
    expect(decision.allowed).toBe(false)
    if (decision.allowed) return
    expect(decision.reason).toBe(
      'no trust policy without an agentId allows repository "acme/widgets-evil": repository names must match exactly; an administrator must create a trust policy for this repository'
    )
    expect(decision.reason).not.toMatch(/secret|acme\/widgets"/)
    expect(decision.closestPolicyId).toBeUndefined()
  })
})

describe('decide: repository and owner id pinning', () => {
  it('survives a rename when repositoryId is pinned', () => {
    const pinned = policy({ repository: 'acme/old-name', repositoryId: '123456789' })
    expect(decide(claimsFor({ repository: 'acme/new-name' }), [pinned], undefined)).toEqual({ allowed: true, policy: pinned })
  })

  it('refuses a deleted-and-recreated repository of the same name (new id)', () => {
    const pinned = policy({ repositoryId: '123456789' })
    const decision = decide(claimsFor({ repositoryId: '987654321' }), [pinned], undefined)
    expect(decision).toMatchObject({ allowed: false, code: 'trust_policy_violation', claim: 'repository_id', closestPolicyId: pinned.id })
    if (!decision.allowed) {
      expect(decision.reason).toContain(`policy ${pinned.id} pins repository_id "123456789" but the token's repository_id is "987654321"`)
    }
  })

  it('refuses another repository that happens to reuse nothing but the id space', () => {
    const pinned = policy({ repositoryId: '123456789' })
    expect(decide(claimsFor({ repository: 'evil/thing', repositoryId: '5' }), [pinned], undefined)).toMatchObject({ claim: 'repository', code: 'trust_policy_violation' })
  })

  it('refuses a repository whose owner id differs from the pinned one', () => {
    const pinned = policy({ repositoryOwnerId: '4242' })
    const decision = decide(claimsFor({ ownerId: '9999' }), [pinned], undefined)
    expect(decision).toMatchObject({ allowed: false, code: 'trust_policy_violation', claim: 'repository_owner_id' })
    if (!decision.allowed) expect(decision.reason).toContain('pins repository_owner_id "4242" but the token\'s repository_owner_id is "9999"')
  })
})

describe('decide: branch', () => {
  it('allows refs/heads/main for branch main', () => {
    expect(decide(claimsFor({ ref: 'refs/heads/main' }), [policy({ branch: 'main' })], undefined).allowed).toBe(true)
  })

  it.each([
    ['refs/heads/dev', ''],
    ['refs/heads/main-evil', ''],
    ['refs/heads/feature/main', ''],
    ['refs/heads/Main', ''],
    ['refs/tags/main', ' (a tag, not a branch)'],
    ['refs/pull/7/merge', ' (a pull request ref, not a branch)'],
    ['main', '']
  ])('refuses ref %s for branch main with branch_not_permitted and both values', (ref, note) => {
    const main = policy({ branch: 'main' })
    const decision = decide(claimsFor({ ref }), [main], undefined)
    expect(decision).toEqual({
      allowed: false,
      code: 'branch_not_permitted',
      claim: 'ref',
      closestPolicyId: main.id,
      reason: `policy ${main.id} allows branch "main" (ref "refs/heads/main") but the token's ref is "${ref}"${note}`
    })
  })

  it('allows when any of several policies of the repository names the branch', () => {
    const dev = policy({ branch: 'dev' })
    expect(decide(claimsFor({ ref: 'refs/heads/dev' }), [policy({ branch: 'main' }), dev], undefined)).toEqual({ allowed: true, policy: dev })
  })
})

describe('decide: environment and workflow', () => {
  it('allows the named environment, case-insensitively', () => {
    expect(decide(claimsFor({ environment: 'Production' }), [policy({ environment: 'production' })], undefined).allowed).toBe(true)
  })

  it('refuses a token without the environment and says how to set it', () => {
    const env = policy({ environment: 'production' })
    const decision = decide(claimsFor(), [env], undefined)
    expect(decision).toMatchObject({ allowed: false, code: 'trust_policy_violation', claim: 'environment', closestPolicyId: env.id })
    if (!decision.allowed)
      expect(decision.reason).toBe(`policy ${env.id} allows environment "production" but the token has no environment (set "environment: production" on the job)`)
  })

  it('refuses another environment', () => {
    const decision = decide(claimsFor({ environment: 'staging' }), [policy({ environment: 'production' })], undefined)
    expect(decision).toMatchObject({ allowed: false, code: 'trust_policy_violation', claim: 'environment' })
    if (!decision.allowed) expect(decision.reason).toContain(`but the token's environment is "staging"`)
  })

  it('allows the exact job_workflow_ref and refuses another one', () => {
    const ref = 'acme/widgets/.github/workflows/ci.yml@refs/heads/main'
    expect(decide(claimsFor(), [policy({ workflowRef: ref })], undefined).allowed).toBe(true)
    const strict = policy({ workflowRef: 'acme/widgets/.github/workflows/deploy.yml@refs/heads/main' })
    const decision = decide(claimsFor(), [strict], undefined)
    expect(decision).toMatchObject({ allowed: false, code: 'trust_policy_violation', claim: 'job_workflow_ref' })
    if (!decision.allowed) expect(decision.reason).toContain(`but the token's job_workflow_ref is "${ref}"`)
  })
})

describe('decide: events', () => {
  it.each(['push', 'pull_request', 'workflow_dispatch', 'schedule'])('allows %s when the policy lists no events', (eventName) => {
    expect(decide(claimsFor({ eventName }), [policy()], undefined).allowed).toBe(true)
  })

  it.each(['pull_request_target', 'workflow_run'])('refuses %s unless the policy lists it', (eventName) => {
    const open = policy()
    const decision = decide(claimsFor({ eventName }), [open], undefined)
    expect(decision).toMatchObject({ allowed: false, code: 'event_not_permitted', claim: 'event_name', closestPolicyId: open.id })
    if (!decision.allowed) expect(decision.reason).toContain(`the token's event_name is "${eventName}"; list it in the policy's events`)
    expect(decide(claimsFor({ eventName }), [policy({ events: [eventName] })], undefined).allowed).toBe(true)
  })

  it('refuses events outside an explicit list', () => {
    const pushOnly = policy({ events: ['push'] })
    const decision = decide(claimsFor({ eventName: 'pull_request' }), [pushOnly], undefined)
    expect(decision).toEqual({
      allowed: false,
      code: 'event_not_permitted',
      claim: 'event_name',
      closestPolicyId: pushOnly.id,
      reason: `policy ${pushOnly.id} allows events "push" but the token's event_name is "pull_request"`
    })
  })

  it('checks the event after the branch: pull_request_target on the base branch is still refused', () => {
    const decision = decide(claimsFor({ eventName: 'pull_request_target', ref: 'refs/heads/main' }), [policy({ branch: 'main' })], undefined)
    expect(decision).toMatchObject({ allowed: false, code: 'event_not_permitted' })
  })
})

describe('decide: agents', () => {
  it('bootstrap uses only policies that name no agent', () => {
    const forAgent = policy({ agentId: AGENT })
    const decision = decide(claimsFor(), [forAgent], undefined)
    expect(decision).toMatchObject({ allowed: false, code: 'trust_policy_violation', closestPolicyId: forAgent.id })
    if (!decision.allowed) expect(decision.reason).toContain('needs a policy without agentId')
  })

  it('agent-scoped exchange uses only policies naming that agent', () => {
    const forAgent = policy({ agentId: AGENT })
    expect(decide(claimsFor(), [policy(), forAgent], owned(AGENT))).toEqual({ allowed: true, policy: forAgent })
    const decision = decide(claimsFor(), [policy(), policy({ agentId: OTHER_AGENT })], owned(AGENT))
    expect(decision).toMatchObject({ allowed: false, code: 'trust_policy_violation', claim: 'repository' })
    if (!decision.allowed) expect(decision.reason).toContain(`create one with agentId "${AGENT}"`)
  })

  it('compares agent ids case-insensitively', () => {
    expect(decide(claimsFor(), [policy({ agentId: AGENT })], owned(AGENT.toUpperCase())).allowed).toBe(true)
  })

  it("refuses an agent's policy from another repository without naming that repository", () => {
    const decision = decide(claimsFor({ repository: 'evil/repo', repositoryId: '1' }), [policy({ agentId: AGENT })], owned(AGENT))
    expect(decision).toMatchObject({ allowed: false, code: 'trust_policy_violation' })
    if (!decision.allowed) expect(decision.reason).not.toContain('acme/widgets')
  })

  it('gives branch_not_permitted for the agent policy of the repository with another branch', () => {
    const forAgent = policy({ agentId: AGENT, branch: 'main' })
    expect(decide(claimsFor({ ref: 'refs/heads/x' }), [forAgent], owned(AGENT))).toMatchObject({ code: 'branch_not_permitted', closestPolicyId: forAgent.id })
  })
})

describe('decide: closest policy', () => {
  it('names the policy that got furthest: event beats environment beats branch', () => {
    const branchMiss = policy({ branch: 'release' })
    const envMiss = policy({ environment: 'production' })
    const eventMiss = policy({ events: ['schedule'] })
    const decision = decide(claimsFor(), [branchMiss, envMiss, eventMiss], undefined)
    expect(decision).toMatchObject({ allowed: false, code: 'event_not_permitted', closestPolicyId: eventMiss.id })
    expect(decide(claimsFor(), [branchMiss, envMiss], undefined)).toMatchObject({ claim: 'environment', closestPolicyId: envMiss.id })
  })

  it('refuses everything when there are no policies at all', () => {
    expect(decide(claimsFor(), [], undefined)).toMatchObject({ allowed: false, code: 'trust_policy_violation', claim: 'repository' })
  })
})

describe('federateDecision', () => {
  it.each(['push', 'pull_request', 'workflow_dispatch'])('lets %s federate, pinned to the token repository ids', (eventName) => {
    const decision = federateDecision(claimsFor({ eventName }), [])
    expect(decision).toMatchObject({ allowed: true, policy: { id: 'federate', repository: 'acme/widgets', repositoryId: '123456789', repositoryOwnerId: '4242' } })
  })

  it.each(['pull_request_target', 'workflow_run'])('refuses %s unless FEDERATE_EVENTS lists it', (eventName) => {
    const decision = federateDecision(claimsFor({ eventName }), [])
    expect(decision).toMatchObject({ allowed: false, code: 'event_not_permitted', claim: 'event_name' })
    if (!decision.allowed) expect(decision.reason).toContain(`FEDERATE_EVENTS=${eventName}`)
    expect(federateDecision(claimsFor({ eventName }), [eventName]).allowed).toBe(true)
    const other = eventName === 'workflow_run' ? 'pull_request_target' : 'workflow_run'
    expect(federateDecision(claimsFor({ eventName }), [other]).allowed).toBe(false)
  })
})
