/**
 * A server that accepts the connection and never answers: the bundle times out, retries,
 * and fails after its timeout-seconds budget with a message that says how long it tried.
 * Slow by nature (each attempt may wait up to half of what is left of the budget), so it has
 * its own file and runs beside the other scenarios.
 */
import { describe, expect, it } from '@jest/globals'
import { faults } from '../../shared/testing/faulty-server'
import { failureMessage } from '../e2e/world'
import { expectWithinBound, federateViaFaulty, useFaultWorld } from './helpers'

const FEDERATE = '/v1/identity/federate'
// Below the old 30 s per-attempt timeout + a retry: the client must still split it into attempts.
const TIMEOUT = 36

describe('faults: a server that never answers', () => {
  const fw = useFaultWorld()
  const faulty = () => fw.faulty
  const federate = federateViaFaulty(fw, TIMEOUT)

  it(
    'times out, retries, and fails within timeout-seconds saying how long it tried',
    async () => {
      faulty().plan(FEDERATE, [], faults.hang())
      const run = await federate()
      const message = failureMessage(run)
      expect(run.errors).toHaveLength(1)
      expect(faulty().requestsTo(FEDERATE).length).toBeGreaterThanOrEqual(2)
      expect(message).toMatch(/gave up after \d+ attempts in [\d.]+ s/)
      // The figure the user configured (not what was left of it after the OIDC token).
      expect(message).toMatch(new RegExp(`timeout-seconds is ${TIMEOUT}\\b`))
      expect(message).toMatch(/no answer/)
      expect(run.outputs.token ?? '').toBe('')
      expectWithinBound(run, TIMEOUT)
    },
    (TIMEOUT + 40) * 1000
  )
})
