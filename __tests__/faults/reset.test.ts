/**
 * A connection reset in the middle of the answer: @actions/http-client's readBody() only
 * listens for 'end', so its promise never settles, and the action process used to exit 0
 * with no output, no error and no summary. The client now reads the body itself, rejects a
 * cut-off answer as a retryable network error, and keeps a referenced timer while a request
 * is in flight.
 */
import { describe, expect, it } from '@jest/globals'
import { faults } from '../../shared/testing/faulty-server'
import { failureMessage } from '../e2e/world'
import { expectWithinBound, federateViaFaulty, useFaultWorld } from './helpers'

const FEDERATE = '/v1/identity/federate'
const TIMEOUT = 30

describe('faults: a connection reset mid-response', () => {
  const fw = useFaultWorld()
  const faulty = () => fw.faulty
  const federate = federateViaFaulty(fw, TIMEOUT)

  it('a connection reset in the middle of the answer is retried and passes', async () => {
    faulty().plan(FEDERATE, [faults.reset()])
    const run = await federate()
    expect(run.errors).toEqual([])
    expect(run.outcome).toBe('success')
    expect(
      faulty()
        .requestsTo(FEDERATE)
        .map((r) => r.fault)
    ).toEqual(['reset', 'proxy'])
    expectWithinBound(run, TIMEOUT)
  })

  it('resets on every attempt end in one failure after max-attempts', async () => {
    faulty().plan(FEDERATE, [], faults.reset())
    const run = await federate({ 'max-attempts': '3' })
    const message = failureMessage(run)
    expect(run.errors).toHaveLength(1)
    expect(message).toMatch(/gave up after 3 attempts in [\d.]+ s/)
    expect(faulty().requestsTo(FEDERATE)).toHaveLength(3)
    expect(run.outputs.token ?? '').toBe('')
    expectWithinBound(run, TIMEOUT)
  })
})
