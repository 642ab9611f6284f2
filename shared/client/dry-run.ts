/**
 * dry-run: asks the explain endpoint instead of exchanging, prints the decision and what it
 * would grant, sets `allowed`, and fails with the real run's message when the exchange would
 * be refused.
 */
import { explain, type ExchangeRequest, type Explanation } from './agent-idp'
import { ActionError } from './errors'
import type { IdTokenSource } from './oidc'
import type { Outcome } from './run-action'
import type { Session } from './session'
import { grantRows, type Grant } from './summary'

/** Refusals a server may answer explain with as an error (400/403) rather than as `allowed: false`. */
const REFUSAL_CODES = new Set(['invalid_scope', 'invalid_target', 'agent_expired'])

/** The exchange's error code for a refusal the explain endpoint described in words only. */
export function refusalCode(reason: string | undefined): string {
  const text = reason ?? ''
  // Whole words: an event reason names pull_request_target.
  if (/\bscopes?\b/i.test(text)) return 'invalid_scope'
  if (/\baudiences?\b/i.test(text)) return 'invalid_target'
  if (/agent/i.test(text) && /expired/i.test(text)) return 'agent_expired'
  if (/branch|ref\b/i.test(text)) return 'branch_not_permitted'
  if (/event/i.test(text)) return 'event_not_permitted'
  if (/agent/i.test(text) && /not found|unknown|disabled/i.test(text)) return 'agent_not_found'
  return 'trust_policy_violation'
}

async function decide(session: Session, tokens: IdTokenSource, request: ExchangeRequest): Promise<Explanation> {
  try {
    return await explain(session, tokens, request)
  } catch (error) {
    if (!(error instanceof ActionError) || !error.serverCode || !REFUSAL_CODES.has(error.serverCode)) throw error
    // A refusal all the same: answered like allowed: false, with the server's own description.
    session.core.setOutput('allowed', 'false')
    const why = error.serverMessage ?? error.serverCode
    throw new ActionError('dry_run_denied', `dry run: the exchange would be refused: ${why}`, { ...error.details, cause: error })
  }
}

export async function dryRun(session: Session, tokens: IdTokenSource, request: ExchangeRequest): Promise<Outcome> {
  const decision = await decide(session, tokens, request)
  session.core.setOutput('allowed', String(decision.allowed))
  if (!decision.allowed) {
    const code = decision.code ?? refusalCode(decision.reason)
    const closest = [decision.policyId && `closest policy ${decision.policyId}`, decision.claim && `differs in claim ${decision.claim}`].filter(Boolean).join(', ')
    const why = `${decision.reason ?? code}${closest ? ` (${closest})` : ''}`
    throw new ActionError('dry_run_denied', `dry run: the exchange would be refused: ${why}`, { serverCode: code, serverMessage: decision.reason })
  }
  const granted: Grant = { wouldBe: true, scope: decision.scope, audience: decision.audience, expiresIn: decision.expiresIn }
  const what = grantRows(granted)
    .map(([name, value]) => `${name} ${value}`)
    .join(', ')
  session.core.info(
    `Dry run: the exchange would be allowed${decision.policyId ? ` by trust policy ${decision.policyId}` : ''}${what ? `, granting ${what}` : ''}. Nothing was minted.`
  )
  return {
    headline: 'dry run: the exchange would be allowed',
    result: [
      ['allowed', 'true'],
      ['policy', decision.policyId ?? '']
    ],
    granted
  }
}
