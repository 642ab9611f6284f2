/**
 * issue-token: the agent-scoped exchange. The token is saved in the step's state for the
 * post step (issue-token/post.ts), which revokes it at job end unless `revoke: false`.
 */
import { exchange } from '../agent-idp'
import { dryRun } from '../dry-run'
import { parseIssueTokenInputs, type IssueTokenInputs } from '../inputs'
import { runAction, type ActionSpec } from '../run-action'
import type { RunDeps } from '../session'
import { untrusted } from '../untrusted-text'

/** State keys shared with the post step. */
export const STATE = { token: 'access-token', expiresAt: 'expires-at', apiUrl: 'api-url' } as const

export const issueTokenAction: ActionSpec<IssueTokenInputs> = {
  name: 'issue-token',
  protocol: 'agent',
  parse: parseIssueTokenInputs,
  audience: (inputs) => inputs.audience,
  context: (inputs) => ({ apiUrl: inputs.apiUrl, audience: inputs.audience, agentId: inputs.agentId }),
  async execute(session, inputs, tokens) {
    const request = { apiUrl: inputs.apiUrl, agentId: inputs.agentId, ttl: inputs.ttl }
    if (inputs.dryRun) return dryRun(session, tokens, request)
    const { core } = session
    const issued = await exchange(session, tokens, request)
    core.setOutput('access-token', issued.accessToken)
    core.setOutput('expires-at', issued.expiresAt)
    if (inputs.revoke) {
      core.saveState(STATE.token, issued.accessToken)
      core.saveState(STATE.expiresAt, issued.expiresAt)
      core.saveState(STATE.apiUrl, inputs.apiUrl.toString())
    }
    // The outputs are exact; what is printed of the server's fields is neutralised.
    const expiresAt = untrusted(issued.expiresAt)
    core.info(
      `Issued a token for agent ${inputs.agentId}, valid until ${expiresAt}; ` +
        (inputs.revoke ? 'it is revoked when the job ends.' : 'revoke: false, so it stays valid until then.')
    )
    return {
      headline: `token issued for agent ${inputs.agentId}`,
      result: [
        ['agent-id', inputs.agentId],
        ['scope', untrusted(issued.scope ?? '')],
        ['expires-at', expiresAt],
        ['revoked at job end', String(inputs.revoke)]
      ]
    }
  }
}

/** Entry point of the issue-token bundle. */
export function run(deps: Partial<RunDeps> = {}): Promise<void> {
  return runAction(issueTokenAction, deps)
}
