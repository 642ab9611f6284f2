/**
 * dry-run: asks the explain endpoint instead of exchanging, prints the decision, sets
 * `allowed`, and fails with the real run's message when the exchange would be refused.
 */
import { explain, type ExchangeRequest } from './agent-idp'
import { ActionError } from './errors'
import type { IdTokenSource } from './oidc'
import type { Outcome } from './run-action'
import type { Session } from './session'

/** The exchange's error code for a refusal the explain endpoint described in words only. */
export function refusalCode(reason: string | undefined): string {
  const text = reason ?? ''
  if (/branch|ref\b/i.test(text)) return 'branch_not_permitted'
  if (/event/i.test(text)) return 'event_not_permitted'
  if (/agent/i.test(text) && /not found|unknown|disabled/i.test(text)) return 'agent_not_found'
  return 'trust_policy_violation'
}

export async function dryRun(session: Session, tokens: IdTokenSource, request: ExchangeRequest): Promise<Outcome> {
  const decision = await explain(session, tokens, request)
  session.core.setOutput('allowed', String(decision.allowed))
  if (!decision.allowed) {
    const code = decision.code ?? refusalCode(decision.reason)
    const closest = [decision.policyId && `closest policy ${decision.policyId}`, decision.claim && `differs in claim ${decision.claim}`].filter(Boolean).join(', ')
    const why = `${decision.reason ?? code}${closest ? ` (${closest})` : ''}`
    throw new ActionError('dry_run_denied', `dry run: the exchange would be refused: ${why}`, { serverCode: code, serverMessage: decision.reason })
  }
  session.core.info(`Dry run: the exchange would be allowed${decision.policyId ? ` by trust policy ${decision.policyId}` : ''}. Nothing was minted.`)
  return {
    headline: 'dry run: the exchange would be allowed',
    result: [
      ['allowed', 'true'],
      ['policy', decision.policyId ?? '']
    ]
  }
}
