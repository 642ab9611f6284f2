/**
 * The part of @actions/core the actions use, as an interface so tests hand in a recorder.
 * The real module is loaded lazily (load-vendor.ts): importing it evaluates
 * @actions/http-client (its OIDC client) and node:http/https, which is most of a bundle's
 * start-up time, and a run that fails on its inputs needs none of it. Not its getIDToken:
 * the OIDC token is asked for through the action's own transport (oidc.ts).
 */
import { EOL } from 'node:os'
import { loadVendor } from './load-vendor'
import { safeLines } from './untrusted-text'

export interface ActionCore {
  setSecret(secret: string): void
  setOutput(name: string, value: string): void
  setFailed(message: string): void
  saveState(name: string, value: string): void
  getState(name: string): string
  debug(message: string): void
  info(message: string): void
  warning(message: string): void
  isDebug(): boolean
}

/** @actions/core itself (it satisfies ActionCore). */
export async function loadRunnerCore(): Promise<ActionCore> {
  return (await loadVendor()).core
}

/**
 * The last line of defence against workflow-command injection (untrusted-text.ts): every
 * message that reaches the log (info, warning, debug, setFailed) is made inert line by line,
 * whatever it embeds and however it got there. Secrets, outputs and state pass unchanged
 * (they are not log lines). Values from a server are neutralised where they are read too;
 * this catches what a future message forgets.
 */
export function guardedLog(core: ActionCore): ActionCore {
  return {
    setSecret: (secret) => core.setSecret(secret),
    setOutput: (name, value) => core.setOutput(name, value),
    setFailed: (message) => core.setFailed(safeLines(message)),
    saveState: (name, value) => core.saveState(name, value),
    getState: (name) => core.getState(name),
    debug: (message) => core.debug(safeLines(message)),
    info: (message) => core.info(safeLines(message)),
    warning: (message) => core.warning(safeLines(message)),
    isDebug: () => core.isDebug()
  }
}

/** Same escaping as @actions/core's workflow commands. */
function escapeData(text: string): string {
  return text.replace(/%/g, '%25').replace(/\r/g, '%0D').replace(/\n/g, '%0A')
}

/**
 * `core.setFailed` without loading @actions/core: the `::error::` command and exit code 1.
 * Used only when the run stops before the real core was needed (invalid inputs).
 */
export function failWithoutCore(message: string): void {
  process.exitCode = 1
  process.stdout.write(`::error::${escapeData(safeLines(message))}${EOL}`)
}

/** `core.warning` without @actions/core (the last-resort exit guard may run without it). */
export function warnWithoutCore(message: string): void {
  process.stdout.write(`::warning::${escapeData(safeLines(message))}${EOL}`)
}
