/**
 * The post step of issue-token: revokes the access token the main step saved. Skips when
 * there is none (revoke: false, or the main step failed) or it has expired, tries for at
 * most 10 s, and never fails the job: a failed revocation is a warning.
 */
import { revokeToken } from '../agent-idp'
import { guardedLog, loadRunnerCore, warnWithoutCore } from '../core'
import { guardEarlyExit } from '../exit-guard'
import { baseDeps, Session, type RunDeps } from '../session'
import { untrusted } from '../untrusted-text'
import { STATE } from './issue-token'

export const POST_BUDGET_SECONDS = 10

/** Entry point of the post step (issue-token/post.ts); never rejects. */
export function run(overrides: Partial<RunDeps> = {}): Promise<void> {
  // The post step never fails the job, but must not end silently either.
  return guardEarlyExit(
    () => revokeSaved(overrides),
    () => warnWithoutCore('issue-token (post): stopped before the revocation finished (a request that can never complete); the access token stays valid until it expires.')
  )
}

async function revokeSaved(overrides: Partial<RunDeps>): Promise<void> {
  const base = baseDeps(overrides)
  const core = guardedLog(overrides.core ?? (await loadRunnerCore()))
  const token = core.getState(STATE.token)
  if (!token) {
    core.info('No access token to revoke.')
    return
  }
  core.setSecret(token)
  const expiresAt = core.getState(STATE.expiresAt)
  if (expiresAt && Date.parse(expiresAt) <= base.now()) {
    core.info(`The access token expired at ${untrusted(expiresAt)}; nothing to revoke.`)
    return
  }
  const session = new Session({ ...base, core }, { maxAttempts: 3, timeoutSeconds: POST_BUDGET_SECONDS })
  session.secrets.add(token)
  try {
    const apiUrl = new URL(core.getState(STATE.apiUrl))
    await revokeToken(session, apiUrl, token, session.policy())
    core.info('Revoked the access token.')
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error)
    core.warning(session.secrets.scrub(`could not revoke the access token; it stays valid until ${untrusted(expiresAt) || 'it expires'}: ${message}`))
  }
}
