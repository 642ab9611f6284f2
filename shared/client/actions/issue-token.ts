/**
 * issue-token: the agent-scoped exchange. The token is saved in the step's state for the
 * post step (issue-token/post.ts), which revokes it at job end unless `revoke: false`.
 */
import { exchange } from '../agent-idp'
import { dryRun } from '../dry-run'
import { parseIssueTokenInputs, type IssueTokenInputs } from '../inputs'
import { runAction, type ActionSpec } from '../run-action'
import type { RunDeps, Session } from '../session'
import { untrusted } from '../untrusted-text'

const scopeSet = (scope: string): string => [...new Set(scope.split(/\s+/).filter(Boolean))].sort().join(' ')

/**
 * A server that predates scopes and audiences ignores them and grants its default: the token
 * works, but is not the narrow one asked for. Said out loud rather than failed on.
 */
function warnIfBroader(session: Session, inputs: IssueTokenInputs, scope: string | undefined, audience: string | undefined): void {
  if (inputs.scope && scope !== undefined && scopeSet(scope) !== scopeSet(inputs.scope)) {
    session.core.warning(`asked for scope '${inputs.scope}' but the token has scope '${untrusted(scope)}': the server may predate the 'scope' input.`)
  }
  if (inputs.tokenAudience && audience !== undefined && !audience.split(', ').includes(inputs.tokenAudience)) {
    session.core.warning(
      `asked for audience '${inputs.tokenAudience}' but the token's audience is '${untrusted(audience)}': the server may predate the 'token-audience' input.`
    )
  }
}

/** State keys shared with the post step. */
export const STATE = { token: 'access-token', expiresAt: 'expires-at', apiUrl: 'api-url' } as const

export const issueTokenAction: ActionSpec<IssueTokenInputs> = {
  name: 'issue-token',
  protocol: 'agent',
  parse: parseIssueTokenInputs,
  audience: (inputs) => inputs.audience,
  context: (inputs) => ({ apiUrl: inputs.apiUrl, audience: inputs.audience, agentId: inputs.agentId, scope: inputs.scope, tokenAudience: inputs.tokenAudience }),
  async execute(session, inputs, tokens) {
    const request = { apiUrl: inputs.apiUrl, agentId: inputs.agentId, ttl: inputs.ttl, scope: inputs.scope, tokenAudience: inputs.tokenAudience }
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
    const scope = issued.scope === undefined ? undefined : untrusted(issued.scope)
    const audience = issued.audience === undefined ? undefined : untrusted(issued.audience)
    const grants = [scope && `scope ${scope}`, audience && `audience ${audience}`].filter(Boolean).join(', ')
    core.info(
      `Issued a token for agent ${inputs.agentId}${grants ? ` (${grants})` : ''}, valid until ${expiresAt}; ` +
        (inputs.revoke ? 'it is revoked when the job ends.' : 'revoke: false, so it stays valid until then.')
    )
    warnIfBroader(session, inputs, issued.scope, issued.audience)
    return {
      headline: `token issued for agent ${inputs.agentId}`,
      result: [
        ['agent-id', inputs.agentId],
        ['expires-at', expiresAt],
        ['revoked at job end', String(inputs.revoke)]
      ],
      granted: { scope, audience, expiresIn: issued.expiresIn }
    }
  }
}

/** Entry point of the issue-token bundle. */
export function run(deps: Partial<RunDeps> = {}): Promise<void> {
  return runAction(issueTokenAction, deps)
}
