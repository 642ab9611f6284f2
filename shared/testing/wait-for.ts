/**
 * Waiting for a condition instead of sleeping: polls until the condition holds, and fails
 * with what was awaited once the time is up. The one way tests and test tooling wait for a
 * log line, a process, a port or a state.
 */

export interface WaitOptions {
  /** Fails after this long; there is no default, every wait says its bound. */
  timeoutMs: number
  /** Between two checks; default 25 ms. */
  intervalMs?: number
  /** What is awaited, for the failure message ("the server's URL in its output"). */
  what?: string
}

export class WaitTimeoutError extends Error {
  constructor(what: string, timeoutMs: number) {
    super(`timed out after ${timeoutMs} ms waiting for ${what}`)
    this.name = 'WaitTimeoutError'
  }
}

/**
 * Resolves with the condition's first truthy answer (a match, a value, `true`), checking at
 * once and then every `intervalMs`; rejects with a WaitTimeoutError after `timeoutMs`. An
 * error the condition throws ends the wait at once (a condition that may fail while it is
 * not met yet, such as a request to a server still starting, catches that itself).
 */
export async function waitFor<T>(condition: () => T | Promise<T>, options: WaitOptions): Promise<NonNullable<T>> {
  const deadline = Date.now() + options.timeoutMs
  const interval = options.intervalMs ?? 25
  for (;;) {
    const answer = await condition()
    if (answer) return answer
    const left = deadline - Date.now()
    if (left <= 0) throw new WaitTimeoutError(options.what ?? 'a condition', options.timeoutMs)
    await new Promise((resolve) => setTimeout(resolve, Math.min(interval, left)))
  }
}
