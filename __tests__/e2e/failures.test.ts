/**
 * What a user sees when it goes wrong, through the bundles: each failure ends the step with
 * one message that says what happened and names the fix, and still writes the job summary.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals'
import { createServer, type Server } from 'node:http'
import { freePort, listenLocal } from '../../shared/testing/ports'
import { failureMessage, newIdentity, summaryText, useE2eWorld } from './world'

/** A loopback URL on which nothing listens (the port was free a moment ago). */
const deadUrl = async (): Promise<string> => `http://127.0.0.1:${await freePort()}`

describe('e2e: failures name the fix', () => {
  const world = useE2eWorld()
  let htmlSite: Server
  let htmlUrl: string

  beforeAll(async () => {
    // What api-url reaches when it points at a landing page or a login wall.
    htmlSite = createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end('<!doctype html><html><body><h1>Welcome</h1></body></html>')
    })
    htmlUrl = (await listenLocal(htmlSite)).url
  })
  afterAll(() => new Promise<void>((resolve) => htmlSite.close(() => resolve())))

  it('a job without id-token: write is told to add the permission (all three actions)', async () => {
    const job = await world.job(newIdentity(), { idToken: false })
    const runs = [
      await job.run({ uses: './register-agent', with: { 'api-url': world.apiUrl, 'agent-name': 'nope@acme.example' } }),
      await job.run({ uses: './issue-token', if: 'always()', with: { 'api-url': world.apiUrl, 'agent-id': '00000000-0000-4000-8000-000000000000' } }),
      await job.run({ uses: './federate', if: 'always()', with: { 'api-url': world.apiUrl } })
    ]
    for (const run of runs) {
      expect(failureMessage(run)).toContain('id-token: write')
      expect(run.summary).not.toBe('')
    }
  })

  it('a repository without a trust policy is told which policy to ask for', async () => {
    const identity = newIdentity()
    const job = await world.job(identity)
    const run = await job.run({ uses: './register-agent', with: { 'api-url': world.apiUrl, 'agent-name': 'orphan@acme.example' } })
    const message = failureMessage(run)
    expect(message).toMatch(/trust polic/i)
    expect(message).toContain(identity.repository)
    expect(message).toContain('/api/v1/oidc/trust-policies')
    expect(run.outputs['agent-id'] ?? '').toBe('')
    const summary = summaryText(run)
    expect(summary).toContain(identity.repository)
    expect(summary).toMatch(/trust_policy_violation|trust polic/i)
  })

  it('a branch the policy does not name is refused with the ref and the policy branch', async () => {
    const identity = newIdentity({ ref: 'refs/heads/feature/x' })
    await world.admin.createTrustPolicy({ repository: identity.repository, branch: 'main' })
    const job = await world.job(identity)
    const run = await job.run({ uses: './register-agent', with: { 'api-url': world.apiUrl, 'agent-name': 'branchy@acme.example' } })
    const message = failureMessage(run)
    expect(message).toMatch(/branch/i)
    expect(message).toContain('refs/heads/feature/x')
    expect(summaryText(run)).toContain('refs/heads/feature/x')
  })

  it('a wrong audience is refused with a hint about the audience input', async () => {
    const identity = newIdentity()
    await world.admin.createTrustPolicy({ repository: identity.repository })
    const job = await world.job(identity)
    const run = await job.run({
      uses: './register-agent',
      with: { 'api-url': world.apiUrl, 'agent-name': 'aud@acme.example', audience: 'https://not-this-server.example' }
    })
    const message = failureMessage(run)
    expect(message).toMatch(/audience/i)
    expect(summaryText(run)).toContain('https://not-this-server.example')

    const federate = await job.run({ uses: './federate', if: 'always()', with: { 'api-url': world.apiUrl, audience: 'not-persql' } })
    expect(failureMessage(federate)).toMatch(/audience/i)
  })

  it('a pull_request_target run is refused with the event named', async () => {
    const identity = newIdentity({ eventName: 'pull_request_target' })
    const job = await world.job(identity)
    const run = await job.run({ uses: './federate', with: { 'api-url': world.apiUrl } })
    const message = failureMessage(run)
    expect(message).toContain('pull_request_target')
    expect(message).toMatch(/FEDERATE_EVENTS|another event/)
  })

  it('an unknown agent id points at register-agent', async () => {
    const job = await world.job(newIdentity())
    const run = await job.run({ uses: './issue-token', with: { 'api-url': world.apiUrl, 'agent-id': '00000000-0000-4000-8000-000000000000' } })
    expect(failureMessage(run)).toContain('register-agent')
  })

  it('a server that is down fails within the time budget and says it tried', async () => {
    const url = await deadUrl()
    const job = await world.job(newIdentity())
    const run = await job.run({
      uses: './issue-token',
      with: { 'api-url': url, 'agent-id': '00000000-0000-4000-8000-000000000000', 'max-attempts': '3', 'timeout-seconds': '5' }
    })
    const message = failureMessage(run)
    expect(message).toContain(new URL(url).host)
    expect(message).toMatch(/3 attempts|attempt 3|3 tries/i)
    expect(message).toMatch(/max-attempts|timeout-seconds|reachable/i)
    // The budget is 5 s of attempts and waits (the default would be 90 s); the slack is for
    // starting Node on a busy machine.
    expect(run.durationMs).toBeLessThan(20_000)
    expect(run.log).toMatch(/attempt 2 of 3/i)
  })

  it('an HTML page at api-url is reported as the wrong URL, not a JSON error', async () => {
    const job = await world.job(newIdentity())
    const run = await job.run({ uses: './federate', with: { 'api-url': htmlUrl } })
    const message = failureMessage(run)
    expect(message).toMatch(/html|web page/i)
    expect(message).toContain('api-url')
    expect(message).not.toMatch(/Unexpected token|SyntaxError/)
    expect(message).not.toContain('<h1>')
  })
})
