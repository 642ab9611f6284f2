/**
 * A server that accepts the connection and never answers: the bundle times out, retries,
 * and fails after its timeout-seconds budget with a message that says how long it tried.
 * Slow by nature (the client's per-request timeout is 30 s), so it has its own file and
 * runs beside the other scenarios.
 */
import { describe, expect, it } from '@jest/globals'
import { faults } from '../../shared/testing/faulty-server'
import { failureMessage, newIdentity } from '../e2e/world'
import { expectWithinBound, useFaultWorld } from './helpers'

const FEDERATE = '/v1/identity/federate'
// Long enough for one retry after the client's 30 s per-request timeout.
const TIMEOUT = 36

describe('faults: a server that never answers', () => {
  const fw = useFaultWorld()
  const { world } = fw
  const faulty = () => fw.faulty

  it(
    'times out, retries, and fails within timeout-seconds saying how long it tried',
    async () => {
      faulty().plan(FEDERATE, [], faults.hang())
      const job = await world.job(newIdentity())
      const run = await job.run({ uses: './federate', with: { 'api-url': faulty().url, 'timeout-seconds': String(TIMEOUT) } })
      const message = failureMessage(run)
      expect(run.errors).toHaveLength(1)
      expect(faulty().requestsTo(FEDERATE).length).toBeGreaterThanOrEqual(2)
      expect(message).toMatch(/gave up after \d+ attempts in [\d.]+ s/)
      // The client names what is left of the budget when the call starts (the OIDC token came first).
      expect(message).toMatch(/timeout-seconds is \d+/)
      expect(message).toMatch(/no answer/)
      expect(run.outputs.token ?? '').toBe('')
      expectWithinBound(run, TIMEOUT)
    },
    (TIMEOUT + 40) * 1000
  )
})
