import { describe, expect, it } from '@jest/globals'
import { validatePolicyInput } from '../../../shared/server/oidc/policy-input'

const AGENT = '6F1C2B7E-3A4D-4C5E-9F60-718293A4B5C6'
const base = { provider: 'github', repository: 'acme/widgets' }

function reasonFor(body: unknown): string {
  const result = validatePolicyInput(body)
  if (result.ok) throw new Error(`expected a refusal for ${JSON.stringify(body)}`)
  return result.reason
}

describe('validatePolicyInput: accepted', () => {
  it('accepts the minimal policy', () => {
    expect(validatePolicyInput(base)).toEqual({ ok: true, value: { provider: 'github', repository: 'acme/widgets' } })
  })

  it('accepts every field, lower-cases the agent id, dedupes events and treats null as unset', () => {
    const result = validatePolicyInput({
      ...base,
      repositoryId: '123456789',
      repositoryOwnerId: '4242',
      branch: 'release/v1.2',
      environment: 'production',
      workflowRef: 'acme/shared/.github/workflows/deploy.yml@refs/tags/v1',
      agentId: AGENT,
      events: ['push', 'workflow_dispatch', 'push']
    })
    expect(result).toEqual({
      ok: true,
      value: {
        provider: 'github',
        repository: 'acme/widgets',
        repositoryId: '123456789',
        repositoryOwnerId: '4242',
        branch: 'release/v1.2',
        environment: 'production',
        workflowRef: 'acme/shared/.github/workflows/deploy.yml@refs/tags/v1',
        agentId: AGENT.toLowerCase(),
        events: ['push', 'workflow_dispatch']
      }
    })
    expect(validatePolicyInput({ ...base, branch: null, agentId: null })).toEqual({ ok: true, value: base })
  })

  it.each(['a/b', 'Acme-Corp/my.repo_name-2', 'x1/.github', `${'o'.repeat(39)}/${'r'.repeat(100)}`])('accepts repository %s', (repository) => {
    expect(validatePolicyInput({ ...base, repository }).ok).toBe(true)
  })
})

describe('validatePolicyInput: refused with a reason', () => {
  it.each([
    ['not an object', [], /JSON object/],
    ['null', null, /JSON object/],
    ['a missing provider', { repository: 'acme/widgets' }, /provider must be "github"/],
    ['another provider', { ...base, provider: 'gitlab' }, /provider must be "github"/],
    ['a missing repository', { provider: 'github' }, /repository is required/],
    ['a repository without owner', { ...base, repository: 'widgets' }, /"owner\/name"/],
    ['a repository with three parts', { ...base, repository: 'a/b/c' }, /"owner\/name"/],
    ['a repository pattern', { ...base, repository: 'acme/*' }, /patterns are not supported/],
    ['a repository with a space', { ...base, repository: 'acme/wid gets' }, /"owner\/name"/],
    ['an owner starting with a hyphen', { ...base, repository: '-acme/widgets' }, /"owner\/name"/],
    ['an owner of 40 characters', { ...base, repository: `${'o'.repeat(40)}/x` }, /"owner\/name"/],
    ['a name of 101 characters', { ...base, repository: `acme/${'r'.repeat(101)}` }, /"owner\/name"/],
    ['the name ..', { ...base, repository: 'acme/..' }, /"owner\/name"/],
    ['the name .', { ...base, repository: 'acme/.' }, /"owner\/name"/],
    ['a Kelvin sign for K (finding 13)', { ...base, repository: 'acme/\u212Aey' }, /"owner\/name"/],
    ['a non-ASCII owner (finding 13)', { ...base, repository: 'caf\u00e9/widgets' }, /"owner\/name"/],
    ['fullwidth letters (finding 13)', { ...base, repository: 'acme/\uFF57idgets' }, /"owner\/name"/],
    ['a numeric repositoryId', { ...base, repositoryId: 123456789 }, /repositoryId must be a string of digits/],
    ['a non-numeric repositoryId', { ...base, repositoryId: '12ab' }, /repositoryId must be a string of digits/],
    ['a zero-padded repositoryOwnerId', { ...base, repositoryOwnerId: '0042' }, /repositoryOwnerId must be a string of digits/],
    ['a full ref as branch', { ...base, branch: 'refs/heads/main' }, /without "refs\/heads\/"/],
    ['a tag ref as branch', { ...base, branch: 'refs/tags/v1' }, /without "refs\/heads\/"/],
    ['a branch pattern', { ...base, branch: 'release/*' }, /patterns are not supported/],
    ['a branch with ..', { ...base, branch: 'a..b' }, /not a valid git branch name/],
    ['a branch with a space', { ...base, branch: 'my branch' }, /not a valid git branch name/],
    ['a branch ending in .lock', { ...base, branch: 'main.lock' }, /not a valid git branch name/],
    ['an empty branch', { ...base, branch: '' }, /branch must not be empty/],
    ['a branch of 256 characters', { ...base, branch: 'b'.repeat(256) }, /longer than 255/],
    ['a numeric branch', { ...base, branch: 7 }, /branch must be a string/],
    ['an environment with a newline', { ...base, environment: 'prod\nx' }, /control characters/],
    ['a workflowRef without @ref', { ...base, workflowRef: 'acme/widgets/.github/workflows/ci.yml' }, /job_workflow_ref/],
    ['a workflowRef of 513 characters', { ...base, workflowRef: `acme/widgets/${'w'.repeat(500)}@main` }, /longer than 512/],
    ['an agentId that is not a UUID', { ...base, agentId: 'agent-1' }, /agentId must be a UUID/],
    ['an agentId with extra text', { ...base, agentId: `${AGENT}x` }, /agentId must be a UUID/],
    ['events that are not an array', { ...base, events: 'push' }, /non-empty array/],
    ['empty events', { ...base, events: [] }, /non-empty array/],
    ['an unknown event', { ...base, events: ['push', 'pull-request'] }, /"pull-request" is not a GitHub event name/],
    ['an unknown field', { ...base, branches: ['main'] }, /unknown field "branches"/],
    ['an id field', { ...base, id: 'x', createdAt: 'y' }, /unknown fields "id", "createdAt"/]
  ])('refuses %s', (_name, body, reason) => {
    expect(reasonFor(body)).toMatch(reason)
  })
})
