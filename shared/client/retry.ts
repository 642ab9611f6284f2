/**
 * The narrow retry every request goes through: only errors marked retryable (network
 * failures, timeouts, 429, 502/503/504) are tried again, with jittered exponential backoff
 * or the server's Retry-After, bounded by max-attempts and a total time budget.
 */
import { ActionError } from './errors'

export interface RetryPolicy {
  maxAttempts: number
  /** Total budget of all attempts and waits (timeout-seconds). */
  budgetMs: number
  /** First backoff; doubles each attempt. */
  baseDelayMs?: number
  maxDelayMs?: number
  /** Upper bound of one request; the remaining budget lowers it. */
  requestTimeoutMs?: number
  /**
   * The timeout-seconds the user configured, for messages: budgetMs is only what was left
   * of it when this call started (the OIDC token came first). Without it, messages name budgetMs.
   */
  configuredSeconds?: number
}

export interface RetryClock {
  sleep(ms: number): Promise<void>
  /** Milliseconds (Date.now-like). */
  now(): number
  /** [0, 1) */
  random(): number
}

export interface Attempt {
  number: number
  /** Timeout for this attempt's request. */
  timeoutMs: number
}

const DEFAULT_BASE_DELAY_MS = 1000
const DEFAULT_MAX_DELAY_MS = 15_000
const DEFAULT_REQUEST_TIMEOUT_MS = 30_000
/** Below this there is no point starting a request. */
const MIN_ATTEMPT_MS = 250
/** An attempt that leaves room for a retry still gets at least this long (when there is that much). */
const MIN_SHARED_ATTEMPT_MS = 5000

/**
 * The timeout of one attempt. Unless it is the last allowed one, it takes at most half of
 * what is left (but at least a few seconds), so that a server that never answers still
 * gets a retry: with timeout-seconds 36, a 30 s first attempt would leave none.
 */
export function attemptTimeoutMs(remainingMs: number, isLast: boolean, policy: RetryPolicy): number {
  const cap = policy.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS
  const share = isLast ? remainingMs : Math.max(remainingMs / 2, MIN_SHARED_ATTEMPT_MS)
  return Math.max(MIN_ATTEMPT_MS, Math.round(Math.min(cap, share, remainingMs)))
}

/** "timeout-seconds is 36", plus what was left of it when the budget was already partly spent. */
function budgetText(policy: RetryPolicy): string {
  const budget = Math.round(policy.budgetMs / 1000)
  if (policy.configuredSeconds === undefined) return `timeout-seconds is ${budget}`
  const spentBefore = policy.configuredSeconds * 1000 - policy.budgetMs
  const left = spentBefore >= 1000 ? `, ${seconds(policy.budgetMs)} of it left for this call` : ''
  return `timeout-seconds is ${policy.configuredSeconds}${left}`
}

/** Backoff before attempt `next` (2, 3, ...): base * 2^(next-2), capped, with "equal jitter". */
export function backoffMs(next: number, policy: RetryPolicy, random: number): number {
  const base = policy.baseDelayMs ?? DEFAULT_BASE_DELAY_MS
  const ceiling = Math.min(policy.maxDelayMs ?? DEFAULT_MAX_DELAY_MS, base * 2 ** (next - 2))
  return Math.round(ceiling / 2 + (ceiling / 2) * random)
}

/** Retry-After as seconds or an HTTP date; undefined when absent or unreadable. */
export function parseRetryAfter(value: string | undefined, nowMs: number): number | undefined {
  if (!value) return undefined
  if (/^\d+$/.test(value.trim())) return Number(value.trim()) * 1000
  const at = Date.parse(value)
  return Number.isNaN(at) ? undefined : Math.max(0, at - nowMs)
}

function seconds(ms: number): string {
  return `${Math.round(ms / 100) / 10} s`
}

/**
 * Runs `work` until it succeeds, fails with a non-retryable error, or attempts/budget run
 * out. `log` gets one line per failed attempt ("attempt n of N").
 */
export async function retrying<T>(what: string, policy: RetryPolicy, clock: RetryClock, log: (line: string) => void, work: (attempt: Attempt) => Promise<T>): Promise<T> {
  const started = clock.now()
  const deadline = started + policy.budgetMs
  for (let number = 1; ; number++) {
    const timeoutMs = attemptTimeoutMs(deadline - clock.now(), number >= policy.maxAttempts, policy)
    try {
      return await work({ number, timeoutMs })
    } catch (error) {
      if (!(error instanceof ActionError) || !error.retryable) throw error
      const elapsed = clock.now() - started
      const giveUp = (why: string): ActionError =>
        new ActionError(error.code, `gave up after ${number} attempt${number === 1 ? '' : 's'} in ${seconds(elapsed)} (${why}); last error: ${error.message}`, {
          ...error.details,
          retryable: false,
          attempts: number,
          cause: error
        })
      if (number >= policy.maxAttempts) throw giveUp(`max-attempts is ${policy.maxAttempts}`)
      const wait = error.retryAfterMs ?? backoffMs(number + 1, policy, clock.random())
      if (clock.now() + wait + MIN_ATTEMPT_MS > deadline) {
        const asked = error.retryAfterMs !== undefined ? `the server asked to wait ${seconds(wait)}, ` : ''
        throw giveUp(`${asked}${budgetText(policy)}`)
      }
      log(`${what}: attempt ${number} of ${policy.maxAttempts} failed (${error.message}); retrying in ${seconds(wait)}`)
      await clock.sleep(wait)
    }
  }
}
