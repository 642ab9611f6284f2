/**
 * The fault scenarios' world: the e2e world (issuer, real server process, leak check after
 * every test) plus a fault-injecting server in front of the real one. Not a test file.
 */
import { afterAll, afterEach, beforeAll, expect } from '@jest/globals'
import { FaultyServer } from '../../shared/testing/faulty-server'
import type { ActionRun, StepResult } from '../../shared/testing/local-runner'
import { newIdentity, useE2eWorld, type E2eWorld } from '../e2e/world'

export interface FaultWorld {
  world: E2eWorld
  faulty: FaultyServer
}

export function useFaultWorld(): FaultWorld {
  const world = useE2eWorld()
  const self = { world } as FaultWorld
  beforeAll(async () => {
    self.faulty = await FaultyServer.start({ upstream: world.server.url })
  })
  afterEach(() => self.faulty.reset())
  afterAll(() => self.faulty?.close())
  return self
}

/**
 * The federate scenario of the fault suites: a job of a fresh identity runs the federate
 * bundle with api-url pointing at the faulty server, given timeout-seconds and any other inputs.
 */
export function federateViaFaulty(fw: FaultWorld, timeoutSeconds: number): (extra?: Record<string, string>) => Promise<ActionRun> {
  return async (extra = {}) => {
    const job = await fw.world.job(newIdentity())
    return job.run({ uses: './federate', with: { 'api-url': fw.faulty.url, 'timeout-seconds': String(timeoutSeconds), ...extra } })
  }
}

/**
 * A generous bound on a step's wall time: its timeout-seconds, plus Node start-up, the OIDC
 * token and slack for a loaded machine. It proves "does not hang", not a speed.
 */
export function expectWithinBound(run: StepResult, timeoutSeconds: number): void {
  expect(run.timedOut).toBe(false)
  expect(run.durationMs).toBeLessThan((timeoutSeconds + 20) * 1000)
}

/** Gaps between consecutive requests, ms. */
export function gaps(times: number[]): number[] {
  return times.slice(1).map((t, i) => t - times[i]!)
}
