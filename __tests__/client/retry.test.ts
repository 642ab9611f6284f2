import { describe, expect, it } from '@jest/globals'
import { ActionError } from '../../shared/client/errors'
import { attemptTimeoutMs, backoffMs, parseRetryAfter, retrying, type RetryPolicy } from '../../shared/client/retry'
import { fakeClock } from './helpers'

const transient = (retryAfterMs?: number): ActionError =>
  new ActionError('unreachable', 'could not connect to https://idp.example.com (ECONNREFUSED)', { retryable: true, retryAfterMs })

function attemptsOf(failures: Array<ActionError | Error>, policy: RetryPolicy) {
  const clock = fakeClock(0)
  const log: string[] = []
  let calls = 0
  const promise = retrying(
    'exchanging',
    policy,
    clock,
    (line) => log.push(line),
    async () => {
      const failure = failures[calls++]
      if (failure) throw failure
      return 'ok'
    }
  )
  return { promise, clock, log, calls: () => calls }
}

describe('retrying', () => {
  it('retries transient failures and succeeds, logging "attempt n of N"', async () => {
    const run = attemptsOf([transient(), transient()], { maxAttempts: 5, budgetMs: 90_000 })
    await expect(run.promise).resolves.toBe('ok')
    expect(run.calls()).toBe(3)
    expect(run.log).toEqual([
      expect.stringMatching(/^exchanging: attempt 1 of 5 failed \(could not connect .*ECONNREFUSED\)\); retrying in 0\.8 s$/),
      expect.stringMatching(/^exchanging: attempt 2 of 5 failed .*retrying in 1\.5 s$/)
    ])
  })

  it('stops after max-attempts and says how many and how long', async () => {
    const run = attemptsOf([transient(), transient(), transient(), transient()], { maxAttempts: 3, budgetMs: 90_000 })
    const error = (await run.promise.catch((e: unknown) => e)) as ActionError
    expect(run.calls()).toBe(3)
    expect(error.code).toBe('unreachable')
    expect(error.attempts).toBe(3)
    expect(error.retryable).toBe(false)
    expect(error.message).toMatch(/^gave up after 3 attempts in 2\.3 s \(max-attempts is 3\); last error: could not connect/)
  })

  it('never retries a non-retryable failure (a 4xx other than 429)', async () => {
    const refused = new ActionError('rejected', 'the server refused it with 403 (trust_policy_violation)', { status: 403, serverCode: 'trust_policy_violation' })
    const run = attemptsOf([refused], { maxAttempts: 5, budgetMs: 90_000 })
    await expect(run.promise).rejects.toBe(refused)
    expect(run.calls()).toBe(1)
    expect(run.clock.sleeps).toEqual([])
  })

  it('does not retry unexpected errors (bugs)', async () => {
    const run = attemptsOf([new TypeError('x is undefined')], { maxAttempts: 5, budgetMs: 90_000 })
    await expect(run.promise).rejects.toThrow(TypeError)
    expect(run.calls()).toBe(1)
  })

  it('waits exactly what Retry-After asks', async () => {
    const run = attemptsOf([transient(7000), transient(2000)], { maxAttempts: 5, budgetMs: 90_000 })
    await run.promise
    expect(run.clock.sleeps).toEqual([7000, 2000])
  })

  it('gives up at once when Retry-After goes beyond the time budget', async () => {
    const run = attemptsOf([transient(120_000)], { maxAttempts: 5, budgetMs: 90_000 })
    const error = (await run.promise.catch((e: unknown) => e)) as ActionError
    expect(run.calls()).toBe(1)
    expect(run.clock.sleeps).toEqual([])
    expect(error.message).toMatch(/gave up after 1 attempt in 0 s \(the server asked to wait 120 s, timeout-seconds is 90\)/)
  })

  it('stops when the next wait would overrun the budget', async () => {
    const failures = Array.from({ length: 20 }, () => transient())
    const run = attemptsOf(failures, { maxAttempts: 20, budgetMs: 10_000 })
    const error = (await run.promise.catch((e: unknown) => e)) as ActionError
    const waited = run.clock.sleeps.reduce((a, b) => a + b, 0)
    expect(waited).toBeLessThanOrEqual(10_000)
    expect(run.calls()).toBeLessThan(20)
    expect(error.message).toMatch(/timeout-seconds is 10\)/)
  })

  it('gives each attempt a timeout no longer than what is left of the budget', async () => {
    const clock = fakeClock(0)
    const timeouts: number[] = []
    let n = 0
    await retrying(
      'x',
      { maxAttempts: 3, budgetMs: 90_000 },
      clock,
      () => undefined,
      async (attempt) => {
        timeouts.push(attempt.timeoutMs)
        clock.advance(attempt.timeoutMs)
        if (++n < 3) throw transient()
        return 'ok'
      }
    )
    // 30 s cap; then half of what is left (a retry must fit); the last attempt takes all that is left.
    expect(timeouts).toEqual([30_000, (90_000 - 30_000 - 750) / 2, 90_000 - 30_000 - 750 - 29_625 - 1500])
  })

  it('leaves room for a retry after a hang when timeout-seconds is small (36 s)', async () => {
    const clock = fakeClock(0)
    const timeouts: number[] = []
    const run = retrying(
      'x',
      { maxAttempts: 5, budgetMs: 36_000, configuredSeconds: 36 },
      clock,
      () => undefined,
      async (attempt) => {
        timeouts.push(attempt.timeoutMs)
        clock.advance(attempt.timeoutMs) // the server never answers
        throw new ActionError('timeout', 'no answer from https://idp.example.com within 1 s', { retryable: true })
      }
    )
    const error = (await run.catch((e: unknown) => e)) as ActionError
    expect(timeouts.length).toBeGreaterThanOrEqual(2)
    expect(timeouts[0]).toBe(18_000)
    expect(timeouts[1]).toBe(Math.round((36_000 - 18_000 - 750) / 2))
    // Attempts and waits stay within the budget.
    expect(clock.now()).toBeLessThanOrEqual(36_000)
    expect(error.message).toMatch(new RegExp(`^gave up after ${timeouts.length} attempts in [\\d.]+ s \\(timeout-seconds is 36\\); last error: no answer`))
  })

  it.each([
    // [remaining, last attempt?, expected timeout]
    [90_000, false, 30_000],
    [36_000, false, 18_000],
    [8_000, false, 5_000],
    [3_000, false, 3_000],
    [36_000, true, 30_000],
    [12_000, true, 12_000],
    [100, false, 250]
  ])('attemptTimeoutMs(%d ms left, last: %s) is %d ms', (remaining, last, expected) => {
    expect(attemptTimeoutMs(remaining, last, { maxAttempts: 5, budgetMs: 90_000 })).toBe(expected)
  })

  it('names the configured timeout-seconds, not what was left of it when the call started', async () => {
    // The OIDC token took 1.2 s of a configured 36 s: the call starts with 34.8 s left.
    const run = attemptsOf([transient(60_000)], { maxAttempts: 5, budgetMs: 34_800, configuredSeconds: 36 })
    const error = (await run.promise.catch((e: unknown) => e)) as ActionError
    expect(error.message).toMatch(/gave up after 1 attempt in 0 s \(the server asked to wait 60 s, timeout-seconds is 36, 34\.8 s of it left for this call\)/)
  })
})

describe('backoff', () => {
  it('doubles from 1 s with jitter between half and the full step, capped at 15 s', () => {
    expect(backoffMs(2, { maxAttempts: 9, budgetMs: 1 }, 0)).toBe(500)
    expect(backoffMs(2, { maxAttempts: 9, budgetMs: 1 }, 0.999999)).toBe(1000)
    expect(backoffMs(4, { maxAttempts: 9, budgetMs: 1 }, 0)).toBe(2000)
    expect(backoffMs(12, { maxAttempts: 20, budgetMs: 1 }, 1)).toBe(15_000)
  })
})

describe('parseRetryAfter', () => {
  it('reads seconds and HTTP dates, ignores garbage', () => {
    expect(parseRetryAfter('3', 0)).toBe(3000)
    expect(parseRetryAfter(new Date(10_000).toUTCString(), 4000)).toBe(6000)
    expect(parseRetryAfter('soon', 0)).toBeUndefined()
    expect(parseRetryAfter(undefined, 0)).toBeUndefined()
  })
})
