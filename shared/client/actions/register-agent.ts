/**
 * register-agent: bootstrap exchange, registration (idempotent), and revocation of the
 * bootstrap token right away (a failed revocation is a warning).
 */
import { exchange, registerAgent, revokeToken } from '../agent-idp'
import { dryRun } from '../dry-run'
import { idempotencyKey } from '../idempotency'
import { parseRegisterAgentInputs, type RegisterAgentInputs } from '../inputs'
import { runAction, type ActionSpec } from '../run-action'
import type { RunDeps, Session } from '../session'
import { untrusted } from '../untrusted-text'

/** Revocation is a courtesy: at most this long, never a failure. */
export const REVOKE_BUDGET_MS = 10_000

async function revokeBootstrap(session: Session, apiUrl: URL, token: string): Promise<void> {
  const policy = { maxAttempts: 3, budgetMs: Math.min(REVOKE_BUDGET_MS, session.policy().budgetMs) }
  try {
    await revokeToken(session, apiUrl, token, policy)
    session.core.info('Revoked the bootstrap token.')
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error)
    session.core.warning(session.secrets.scrub(`could not revoke the bootstrap token (it expires on its own): ${message}`))
  }
}

export const registerAgentAction: ActionSpec<RegisterAgentInputs> = {
  name: 'register-agent',
  protocol: 'agent',
  parse: parseRegisterAgentInputs,
  audience: (inputs) => inputs.audience,
  context: (inputs) => ({ apiUrl: inputs.apiUrl, audience: inputs.audience, agentName: inputs.agentName, expiresIn: inputs.expiresIn }),
  async execute(session, inputs, tokens) {
    // Fixed once: every attempt of the registration sends the same body under the same key.
    const expiresAt = inputs.expiresIn === undefined ? undefined : new Date(session.deps.now() + inputs.expiresIn * 1000).toISOString()
    if (inputs.dryRun) {
      const outcome = await dryRun(session, tokens, { apiUrl: inputs.apiUrl })
      return expiresAt ? { ...outcome, result: [...outcome.result, ['agent expires-at (requested)', expiresAt]] } : outcome
    }
    const { core } = session
    const bootstrap = await exchange(session, tokens, { apiUrl: inputs.apiUrl })
    const agent = { name: inputs.agentName, description: inputs.agentDescription, expiresAt }
    const key = await idempotencyKey(session.deps.env, agent)
    try {
      const registered = await registerAgent(session, inputs.apiUrl, bootstrap.accessToken, agent, key)
      core.setOutput('agent-id', registered.agentId)
      core.setOutput('created', String(registered.created))
      // The output is exact; its echo is the server's text, neutralised.
      const agentId = untrusted(registered.agentId)
      const agentExpiresAt = registered.expiresAt === undefined ? undefined : untrusted(registered.expiresAt)
      core.info(
        `${registered.created ? 'Registered' : 'Found the registered'} agent ${inputs.agentName}: ${agentId}${agentExpiresAt ? ` (expires at ${agentExpiresAt})` : ''}`
      )
      // A server before agent lifetimes ignores expiresAt: the agent would never expire.
      if (expiresAt && agentExpiresAt === undefined) {
        core.warning(
          `asked for an agent that expires at ${expiresAt} (expires-in) but the server did not confirm an expiry: it may predate 'expires-in', and the agent may never expire.`
        )
      }
      return {
        headline: registered.created ? `registered agent ${inputs.agentName}` : `agent ${inputs.agentName} was already registered`,
        result: [
          ['agent-name', inputs.agentName],
          ['agent-id', agentId],
          ['created', String(registered.created)],
          ...(agentExpiresAt ? [['agent expires-at', agentExpiresAt] as [string, string]] : [])
        ]
      }
    } finally {
      await revokeBootstrap(session, inputs.apiUrl, bootstrap.accessToken)
    }
  }
}

/** Entry point of the register-agent bundle. */
export function run(deps: Partial<RunDeps> = {}): Promise<void> {
  return runAction(registerAgentAction, deps)
}
