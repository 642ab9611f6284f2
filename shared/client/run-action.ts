/**
 * The frame every action runs in: inputs first (cheap, no heavy imports), then the real
 * core and the session, then the action's own work; every failure ends in one setFailed
 * with the fix, and every run (success or failure) writes its job summary.
 */
import { failWithoutCore, guardedLog, loadRunnerCore } from './core'
import { ActionError, doing, withContext } from './errors'
import { guardEarlyExit } from './exit-guard'
import type { Env, RetryInputs } from './inputs'
import { IdTokenSource } from './oidc'
import { remediation, type FailureContext } from './remediation'
import { SecretRegistry } from './secrets'
import { baseDeps, Session, type RunDeps } from './session'
import { renderSummary, type Grant, type SummaryReport } from './summary'

export interface Outcome {
  headline: string
  /** Non-secret result fields for the summary. */
  result: Array<[string, string]>
  /** What the token grants (scope, audience, lifetime), for its own table. */
  granted?: Grant
}

export interface ActionSpec<I extends RetryInputs> {
  name: string
  protocol: FailureContext['protocol']
  parse(env: Env): I
  audience(inputs: I): string
  /** What the failure messages may name (api-url, agent ...). */
  context(inputs: I): Partial<FailureContext>
  execute(session: Session, inputs: I, tokens: IdTokenSource): Promise<Outcome>
}

function failureHeadline(error: ActionError): string {
  if (error.code === 'invalid_input') return 'invalid inputs'
  if (error.code === 'dry_run_denied') return `dry run: the exchange would be refused${error.serverCode ? ` (${error.serverCode})` : ''}`
  if (error.serverCode) return `refused by the server (${error.serverCode})`
  return `failed (${error.code})`
}

/** Runs one action; never throws (the outcome is the exit code, outputs and summary). */
export function runAction<I extends RetryInputs>(spec: ActionSpec<I>, overrides: Partial<RunDeps> = {}): Promise<void> {
  return guardEarlyExit(
    () => runGuarded(spec, overrides),
    // Never exit 0 without a result: something it waited for can no longer happen.
    () =>
      failWithoutCore(
        `${spec.name}: stopped before it finished: the process ran out of work while a step of the action was still waiting (a request that can never complete). This is a bug in the action; re-run the job, and report it if it happens again.`
      )
  )
}

async function runGuarded<I extends RetryInputs>(spec: ActionSpec<I>, overrides: Partial<RunDeps>): Promise<void> {
  const base = baseDeps(overrides)
  // Every log call goes through guardedLog: nothing printed can be a workflow command.
  let core = overrides.core && guardedLog(overrides.core)
  let inputs: I | undefined
  let session: Session | undefined
  let tokens: IdTokenSource | undefined
  const report = async (summary: Omit<SummaryReport, 'action' | 'claims' | 'audience'>, scrub: (t: string) => string): Promise<void> => {
    const full: SummaryReport = { action: spec.name, claims: tokens?.claims, audience: tokens?.audience, ...summary }
    if (full.claims && Object.keys(full.claims).length === 0) full.claims = undefined
    try {
      await base.writeSummary(renderSummary(full, scrub))
    } catch (error) {
      core?.warning(`could not write the job summary: ${scrub(error instanceof Error ? error.message : String(error))}`)
    }
  }
  try {
    inputs = spec.parse(base.env)
    core ??= guardedLog(await doing('loading the action runtime (dist/vendor/index.js)', loadRunnerCore))
    session = new Session({ ...base, core }, inputs)
    const current = session
    tokens = new IdTokenSource({ core, http: base.http, env: base.env, clock: session.clock, secrets: session.secrets }, spec.audience(inputs), () => current.policy())
    // Minted first: every action needs it, and its claims explain any later failure.
    await tokens.get()
    const outcome = await spec.execute(session, inputs, tokens)
    await report({ ok: true, headline: outcome.headline, result: outcome.result, granted: outcome.granted }, (t) => current.secrets.scrub(t))
  } catch (thrown) {
    const error = thrown instanceof ActionError ? thrown : withContext(thrown, `${spec.name} failed unexpectedly`)
    const secrets = session?.secrets ?? new SecretRegistry(() => undefined)
    const scrub = (text: string): string => secrets.scrub(text)
    const context: FailureContext = { protocol: spec.protocol, claims: tokens?.claims ?? {}, ...(inputs ? spec.context(inputs) : {}) }
    const fix = remediation(error, context)
    const message = scrub(`${spec.name}: ${error.message}${fix ? `\n${fix}` : ''}`)
    if (error.code === 'internal' && error.cause instanceof Error && core) core.debug(scrub(error.cause.stack ?? ''))
    if (core) core.setFailed(message)
    else failWithoutCore(message)
    await report({ ok: false, headline: failureHeadline(error), failure: { message: error.message, fix } }, scrub)
  }
}
