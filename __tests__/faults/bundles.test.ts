/**
 * The bundled actions (Node 24, local runner) against a server that misbehaves: each
 * scenario ends in success after a retry or in one clear failure, within its time bound,
 * and (checked by the world after every test) without printing a secret.
 */
import { beforeAll, describe, expect, it } from '@jest/globals'
import { faults } from '../../shared/testing/faulty-server'
import { failureMessage, newIdentity } from '../e2e/world'
import { expectWithinBound, federateViaFaulty, gaps, useFaultWorld } from './helpers'

const FEDERATE = '/v1/identity/federate'
const EXCHANGE = '/api/v1/oidc/token'
const TIMEOUT = 30

describe('faults: the federate bundle against a faulty server', () => {
  const fw = useFaultWorld()
  const faulty = () => fw.faulty
  const federate = federateViaFaulty(fw, TIMEOUT)

  it('503 twice, then the real answer: retried and passes', async () => {
    faulty().plan(FEDERATE, [faults.unavailable(), faults.unavailable()])
    const run = await federate()
    expect(run.errors).toEqual([])
    expect(run.outcome).toBe('success')
    expect(run.outputs.created).toBe('true')
    expect(
      faulty()
        .requestsTo(FEDERATE)
        .map((r) => r.fault)
    ).toEqual(['status', 'status', 'proxy'])
    expect(run.log).toMatch(/attempt 1 of 5 failed .*503.*retrying/)
    expectWithinBound(run, TIMEOUT)
  })

  it('429 with Retry-After: 2 waits about 2 s, then passes', async () => {
    faulty().plan(FEDERATE, [faults.rateLimited(2)])
    const run = await federate()
    expect(run.outcome).toBe('success')
    const times = faulty()
      .requestsTo(FEDERATE)
      .map((r) => r.at)
    expect(times).toHaveLength(2)
    // The wait is at least what the server asked for (the upper side is only the step bound).
    expect(gaps(times)[0]).toBeGreaterThanOrEqual(1900)
    expect(run.log).toMatch(/retrying in 2(\.0)? s/)
    expectWithinBound(run, TIMEOUT)
  })

  it('a 500 with an HTML body fails at once, saying an HTML page came back', async () => {
    faulty().plan(FEDERATE, [], faults.html500())
    const run = await federate()
    const message = failureMessage(run)
    expect(run.errors).toHaveLength(1)
    expect(message).toMatch(/500/)
    expect(message).toMatch(/HTML page/)
    expect(faulty().requestsTo(FEDERATE)).toHaveLength(1)
    expectWithinBound(run, TIMEOUT)
  })

  it('a 200 with malformed JSON fails at once, saying JSON was expected', async () => {
    faulty().plan(FEDERATE, [], faults.malformedJson())
    const run = await federate()
    const message = failureMessage(run)
    expect(run.errors).toHaveLength(1)
    expect(message).toMatch(/200/)
    expect(message).toMatch(/JSON/)
    expect(faulty().requestsTo(FEDERATE)).toHaveLength(1)
    expectWithinBound(run, TIMEOUT)
  })

  it('a 200 JSON without the workspace token fails with what was missing, sets no output', async () => {
    faulty().plan(FEDERATE, [], faults.missingToken())
    const run = await federate()
    const message = failureMessage(run)
    expect(run.errors).toHaveLength(1)
    expect(message).toMatch(/token/)
    expect(run.outputs.token ?? '').toBe('')
    expect(run.outputs.url ?? '').toBe('')
    expectWithinBound(run, TIMEOUT)
  })
})

describe('faults: the issue-token bundle (agent exchange) against a faulty server', () => {
  const fw = useFaultWorld()
  const { world } = fw
  const faulty = () => fw.faulty
  const identity = newIdentity()
  let agentId = ''

  beforeAll(async () => {
    await world.admin.createTrustPolicy({ repository: identity.repository })
    const job = await world.job(identity)
    const registered = await job.run({ uses: './register-agent', with: { 'api-url': world.apiUrl, 'agent-name': `faults-${identity.repositoryId}@acme.example` } })
    expect(registered.outcome).toBe('success')
    agentId = registered.outputs['agent-id'] ?? ''
    await world.admin.createTrustPolicy({ repository: identity.repository, agentId })
  })

  const issue = async () => {
    const job = await world.job(identity)
    const run = await job.run({
      uses: './issue-token',
      // The real server's origin is the audience; api-url is the faulty stand-in.
      with: { 'api-url': faulty().url, 'agent-id': agentId, audience: world.apiUrl, 'timeout-seconds': String(TIMEOUT) }
    })
    return { job, run }
  }

  it('503 then success: an access token that introspects as active', async () => {
    faulty().plan(EXCHANGE, [faults.unavailable()])
    const { job, run } = await issue()
    expect(run.errors).toEqual([])
    expect(run.outcome).toBe('success')
    const token = run.outputs['access-token'] ?? ''
    expect((await world.admin.introspect(token)).active).toBe(true)
    expect(faulty().requestsTo(EXCHANGE)).toHaveLength(2)
    expectWithinBound(run, TIMEOUT)
    // The post step revokes it through the same (now healthy) api-url.
    await job.end()
    expect((await world.admin.introspect(token)).active).toBe(false)
  })

  it('a 200 JSON without access_token fails once with that message', async () => {
    faulty().plan(EXCHANGE, [], faults.missingToken())
    const { run } = await issue()
    const message = failureMessage(run)
    expect(run.errors).toHaveLength(1)
    expect(message).toMatch(/access_token/)
    expect(run.outputs['access-token'] ?? '').toBe('')
    expect(faulty().requestsTo(EXCHANGE)).toHaveLength(1)
    expectWithinBound(run, TIMEOUT)
  })

  it('a 200 with malformed JSON fails once, saying JSON was expected', async () => {
    faulty().plan(EXCHANGE, [], faults.malformedJson())
    const { run } = await issue()
    expect(failureMessage(run)).toMatch(/JSON/)
    expect(faulty().requestsTo(EXCHANGE)).toHaveLength(1)
    expectWithinBound(run, TIMEOUT)
  })
})
