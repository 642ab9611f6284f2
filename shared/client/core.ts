/**
 * The part of @actions/core the actions use, as an interface so tests hand in a recorder.
 * The real module is loaded lazily (load-vendor.ts): importing it evaluates
 * @actions/http-client (its OIDC client) and node:http/https, which is most of a bundle's
 * start-up time, and a run that fails on its inputs needs none of it.
 */
import { EOL } from 'node:os'
import { loadVendor } from './load-vendor'

export interface ActionCore {
  getIDToken(audience?: string): Promise<string>
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
  process.stdout.write(`::error::${escapeData(message)}${EOL}`)
}

/** `core.warning` without @actions/core (the last-resort exit guard may run without it). */
export function warnWithoutCore(message: string): void {
  process.stdout.write(`::warning::${escapeData(message)}${EOL}`)
}
