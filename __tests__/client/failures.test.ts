/**
 * What the user reads when it goes wrong: every server code of docs/protocol.md mapped to its fix
 * (naming repository, ref and audience), web pages instead of the API, unreachable
 * servers, missing permissions, bad inputs. One setFailed, never a secret.
 */
import { afterEach, describe, expect, it } from '@jest/globals'
import nock from 'nock'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { run as runFederate } from '../../shared/client/actions/federate'
import { run as runIssueToken } from '../../shared/client/actions/issue-token'
import { realSleep, type RunDeps } from '../../shared/client/session'
import { githubClaims } from '../../shared/testing/oidc-issuer'
import { freePort } from '../../shared/testing/ports'
import { captureStdout, stepEnv, useClientWorld } from './helpers'

const API = 'https://idp.example.test'
const AGENT_ID = '0b6f3c9e-2d7a-4c1e-9f5b-8a2e4d6c1f30'

const world = useClientWorld({ runnerIdentity: { repository: 'acme/widgets', repositoryId: '123456789', ownerId: '4242', ref: 'refs/heads/dev' } })
afterEach(() => nock.cleanAll())

function deps(inputs: Record<string, string>, env?: Record<string, string | undefined>): Partial<RunDeps> {
  return {
    core: world.rec.core,
    env: env ?? stepEnv(inputs, world.issuer),
    writeSummary: async (markdown) => void world.summaries.push(markdown),
    now: world.clock.now,
    sleep: world.clock.sleep,
    random: world.clock.random
  }
}

async function issueFailsWith(status: number, body: unknown, headers: Record<string, string> = {}): Promise<string> {
  nock(API)
    .post('/api/v1/oidc/token')
    .reply(status, body as Record<string, unknown>, headers)
  await runIssueToken(deps({ 'api-url': API, 'agent-id': AGENT_ID, 'max-attempts': '1' }))
  expect(world.rec.calls.filter(([m]) => m === 'setFailed')).toHaveLength(1)
  expect(world.rec.outputs).toEqual({})
  return world.rec.failed ?? ''
}

const WHO = /repository acme\/widgets, ref refs\/heads\/dev, event push, audience https:\/\/idp.example.test/

describe('each server error code has its fix', () => {
  it('trust_policy_violation: names repository, ref, audience and shows the policy to create', async () => {
    const message = await issueFailsWith(403, { error: 'trust_policy_violation', error_description: 'no trust policy matches' })
    expect(message).toMatch(
      /^issue-token: exchanging the GitHub OIDC token at https:\/\/idp.example.test\/api\/v1\/oidc\/token for agent .*: the server refused it with 403 \(trust_policy_violation: no trust policy matches\)\n/
    )
    expect(message).toMatch(new RegExp(`No trust policy on https://idp.example.test matches acme/widgets and agent ${AGENT_ID} \\(${WHO.source}\\)`))
    expect(message).toContain(`POST /api/v1/oidc/trust-policies {"provider":"github","repository":"acme/widgets","branch":"dev","agentId":"${AGENT_ID}"}`)
    expect(world.summaries[0]).toMatch(/❌ issue-token: refused by the server \(trust_policy_violation\)/)
    expect(world.summaries[0]).toMatch(/\*\*What to do:\*\* No trust policy/)
    expect(world.summaries[0]).toContain('| ref | refs/heads/dev |')
  })

  it('branch_not_permitted: says which ref the token has', async () => {
    const message = await issueFailsWith(403, { error: 'branch_not_permitted', error_description: 'branch main only' })
    expect(message).toMatch(/A trust policy matches acme\/widgets and agent .* but not ref refs\/heads\/dev. Run the workflow from the branch the policy names/)
  })

  it('event_not_permitted: explains pull_request_target and workflow_run', async () => {
    world.issuer.runnerClaims = githubClaims({ repository: 'acme/widgets', repositoryId: '1', ownerId: '2', eventName: 'pull_request_target' })
    const message = await issueFailsWith(403, { error: 'event_not_permitted', error_description: 'event refused' })
    expect(message).toMatch(/Tokens of 'pull_request_target' events are refused .*list the event in the policy's "events"/)
  })

  it('invalid_token: points at the audience first', async () => {
    const message = await issueFailsWith(401, { error: 'invalid_token', error_description: 'unexpected "aud" claim value' })
    expect(message).toMatch(/did not accept the GitHub OIDC token \(.*audience https:\/\/idp.example.test\)\. The usual cause is the audience: .*set the 'audience' input/)
  })

  it('agent_not_found: says to register the agent', async () => {
    const message = await issueFailsWith(404, { error: 'agent_not_found', error_description: 'unknown agent' })
    expect(message).toMatch(new RegExp(`Agent ${AGENT_ID} is unknown or disabled on https://idp.example.test. Register it with register-agent`))
  })

  it('invalid_request: says to check the inputs and the server kind', async () => {
    const message = await issueFailsWith(400, { error: 'invalid_request', error_description: 'bad body' })
    expect(message).toMatch(/The server found the request malformed/)
  })

  it('insufficient_scope: says a policy without agent is needed', async () => {
    const message = await issueFailsWith(403, { error: 'insufficient_scope', error_description: 'needs agents:write' })
    expect(message).toMatch(/Registration needs a trust policy for acme\/widgets that names no agent/)
  })

  it('rate_limited: gives up when Retry-After exceeds the budget, and says so', async () => {
    nock(API).post('/api/v1/oidc/token').reply(429, { error: 'rate_limited', error_description: 'too many' }, { 'Retry-After': '600' })
    await runIssueToken(deps({ 'api-url': API, 'agent-id': AGENT_ID }))
    expect(world.rec.failed).toMatch(/gave up after 1 attempt in 0 s \(the server asked to wait 600 s, timeout-seconds is 90\)/)
    expect(world.rec.failed).toMatch(/The server is rate-limiting acme\/widgets. Retry later, or raise 'timeout-seconds'/)
  })

  it('a 5xx carries the server message and is not retried unless 502/503/504', async () => {
    const scope = nock(API).post('/api/v1/oidc/token').reply(500, { error: 'server_error', error_description: 'database is on fire' })
    await runIssueToken(deps({ 'api-url': API, 'agent-id': AGENT_ID }))
    scope.done()
    expect(world.rec.failed).toMatch(/the server failed with 500 \(server_error: database is on fire\)\nThe server failed. Re-run later/)
    expect(world.clock.sleeps).toEqual([])
  })

  it('reads the federate envelope {success:false, error, code}', async () => {
    nock(API).post('/v1/identity/federate').reply(401, { success: false, error: 'audience mismatch', code: 'invalid_token' })
    await runFederate(deps({ 'api-url': API }))
    expect(world.rec.failed).toMatch(/the server refused it with 401 \(invalid_token: audience mismatch\)/)
    expect(world.rec.failed).toMatch(/the server expects its federate audience \(FEDERATE_AUDIENCE, default 'persql'\)/)
  })
})

describe('answers that are not the API', () => {
  it('an HTML page: says api-url probably points at a web page', async () => {
    const message = await issueFailsWith(200, '<!doctype html><html><head><title>Acme Login</title></head></html>', { 'content-type': 'text/html' })
    expect(message).toMatch(/the server answered 200 with an HTML page \('Acme Login'\) where JSON was expected/)
    expect(message).toMatch(/api-url \(https:\/\/idp.example.test\/\) probably points at a web page/)
  })

  it('plain text: says non-JSON', async () => {
    const message = await issueFailsWith(404, 'Cannot POST /api/v1/oidc/token', { 'content-type': 'text/plain' })
    expect(message).toMatch(/answered 404 with a non-JSON answer \(text\/plain\) where JSON was expected/)
  })

  it('a redirect: says where to and is not followed', async () => {
    const message = await issueFailsWith(301, '', { location: 'https://login.example.test/' })
    expect(message).toMatch(/the server answered 301, a redirect to https:\/\/login.example.test\/\napi-url .* is redirected/)
  })

  it('JSON without the promised fields: says so', async () => {
    const message = await issueFailsWith(200, { ok: true })
    expect(message).toMatch(/answered without an access_token\nThe server at api-url .* does not answer as this action expects/)
  })
})

describe('nothing to talk to', () => {
  it('an unreachable server: retried max-attempts times, then says how long it tried and what to check', async () => {
    const port = await freePort() // nothing listens there: connection refused
    await runIssueToken(deps({ 'api-url': `http://127.0.0.1:${port}`, 'agent-id': AGENT_ID, 'max-attempts': '3' }))
    expect(world.rec.failed).toMatch(
      new RegExp(`gave up after 3 attempts in 2\\.3 s \\(max-attempts is 3\\); last error: could not connect to http://127.0.0.1:${port} \\(ECONNREFUSED\\)`)
    )
    expect(world.rec.failed).toMatch(/Check that api-url \(http:\/\/127.0.0.1:\d+\/\) is right and reachable from the runner/)
    expect(world.rec.infos.filter((line) => /attempt \d of 3 failed/.test(line))).toHaveLength(2)
  })

  it('no id-token permission: says to add permissions: id-token: write', async () => {
    const env = stepEnv({ 'api-url': API, 'agent-id': AGENT_ID })
    await runIssueToken(deps({}, env))
    expect(world.rec.failed).toMatch(
      /^issue-token: requesting the GitHub OIDC token \(audience https:\/\/idp.example.test\): this job cannot request a GitHub OIDC token \(ACTIONS_ID_TOKEN_REQUEST_URL is not set\)\nAdd `permissions: id-token: write` to the job/
    )
    expect(world.summaries[0]).toMatch(/No OIDC token was minted/)
  })

  it("the runner's token endpoint failing: retried, then reported", async () => {
    world.issuer.failRunnerRequests = { count: 100, status: 500 }
    try {
      await runIssueToken(deps({ 'api-url': API, 'agent-id': AGENT_ID, 'max-attempts': '2' }))
    } finally {
      world.issuer.failRunnerRequests = { count: 0, status: 500 }
    }
    expect(world.rec.failed).toMatch(
      /^issue-token: requesting the GitHub OIDC token \(audience https:\/\/idp.example.test\): gave up after 2 attempts in 0.8 s \(max-attempts is 2\); last error: the runner's OIDC token endpoint failed with 500 \(injected failure\)\n/
    )
    expect(world.rec.failed).toMatch(/The runner could not mint an OIDC token/)
  })
})

describe('a runner token endpoint that never answers', () => {
  it('times each attempt out instead of waiting for the HTTP client', async () => {
    // Accepts the connection, never answers.
    const silent = createServer(() => undefined)
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', () => resolve()))
    try {
      const { port } = silent.address() as AddressInfo
      const env = {
        ...stepEnv({ 'api-url': API, 'agent-id': AGENT_ID, 'max-attempts': '1', 'timeout-seconds': '1' }, world.issuer),
        ACTIONS_ID_TOKEN_REQUEST_URL: `http://127.0.0.1:${port}/idtoken?api-version=2.0`
      }
      await runIssueToken({ ...deps({}, env), sleep: realSleep, now: Date.now })
    } finally {
      silent.closeAllConnections()
      await new Promise((resolve) => silent.close(resolve))
    }
    expect(world.rec.failed).toMatch(
      /requesting the GitHub OIDC token \(audience https:\/\/idp.example.test\): gave up after 1 attempt .*the runner's OIDC token endpoint did not answer within 1 s/
    )
    expect(world.rec.failed).toMatch(/The runner could not mint an OIDC token/)
  })
})

describe('invalid inputs', () => {
  it('fail before anything is loaded or minted, with every problem listed', async () => {
    const env = stepEnv({ 'api-url': 'http://idp.example.com', 'agent-id': 'nope', ttl: '0' }, world.issuer)
    const minted = world.issuer.issuedByRunner.length
    await runIssueToken(deps({}, env))
    expect(world.rec.failed).toMatch(
      /^issue-token: Invalid inputs:\n- Input 'api-url' must use https.*\n- Input 'agent-id' must be an agent id.*\n- Input 'ttl' must be a positive whole number/
    )
    expect(world.issuer.issuedByRunner.length).toBe(minted)
    expect(world.summaries[0]).toMatch(/❌ issue-token: invalid inputs/)
  })

  it('without an injected core: prints ::error:: and sets exit code 1 without loading @actions/core', async () => {
    const { stdout } = await captureStdout(() => runFederate({ env: stepEnv({}), writeSummary: async () => undefined }))
    expect(process.exitCode).toBe(1)
    process.exitCode = 0
    expect(stdout).toBe("::error::federate: Input 'api-url' is required: set it to the server's base URL, e.g. `api-url: https://idp.example.com`.\n")
  })
})
