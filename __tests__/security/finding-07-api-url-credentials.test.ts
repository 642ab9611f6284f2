/**
 * Finding 7 (security review): an `api-url` with credentials (http://user:secret@example.com)
 * was echoed, password included, in the input error. The userinfo of a URL is never printed:
 * not in the input errors (whatever else is wrong with the URL), not on stdout, not in the
 * job summary; the message still says what is wrong.
 */
import { afterEach, describe, expect, it } from '@jest/globals'
import { run as runFederate } from '../../shared/client/actions/federate'
import { run as runIssueToken } from '../../shared/client/actions/issue-token'
import { run as runRegisterAgent } from '../../shared/client/actions/register-agent'
import { ActionError } from '../../shared/client/errors'
import { parseFederateInputs, parseIssueTokenInputs, parseRegisterAgentInputs, type Env } from '../../shared/client/inputs'
import { captureStdout, recordingCore, stepEnv } from '../client/helpers'

const USER = 'deploy-bot'
const PASSWORD = 'S3cr3t-pw-4242'
const AGENT_ID = '0b6f3c9e-2d7a-4c1e-9f5b-8a2e4d6c1f30'

/** [api-url, what the message must still say]. */
const CASES: Array<[string, RegExp]> = [
  // The finding itself: credentials over plain http to a non-loopback host.
  [`http://${USER}:${PASSWORD}@example.com`, /Input 'api-url' must not contain credentials/],
  [`https://${USER}:${PASSWORD}@example.com`, /Input 'api-url' must not contain credentials/],
  [`http://${USER}:${PASSWORD}@localhost:8080`, /Input 'api-url' must not contain credentials/],
  [`https://${USER}:${PASSWORD}@example.com/base?x=1#f`, /Input 'api-url' must not contain credentials/],
  // Not parseable as a URL at all (a space in the host): still nothing before the @.
  [`http://${USER}:${PASSWORD}@exa mple.com`, /Input 'api-url' is not a URL/],
  // A "/" in the password ends the authority for the URL parser: the password is still not shown.
  [`https://${USER}:${PASSWORD}/x@example.com`, /Input 'api-url'/],
  // Without a scheme, "user:" reads as one.
  [`${USER}:${PASSWORD}@example.com`, /Input 'api-url' must use https/]
]

function inputProblem(parse: (env: Env) => unknown, env: Env): string {
  try {
    parse(env)
  } catch (error) {
    expect(error).toBeInstanceOf(ActionError)
    expect((error as ActionError).code).toBe('invalid_input')
    return (error as ActionError).message
  }
  throw new Error('expected the inputs to be refused')
}

function expectNoCredentials(text: string): void {
  expect(text).not.toContain(PASSWORD)
  expect(text).not.toContain(`${USER}:${PASSWORD}`)
  expect(text).not.toContain(`${USER}:`)
}

afterEach(() => {
  process.exitCode = 0
})

describe('finding 7: the userinfo of api-url is never printed', () => {
  it.each(CASES)('input validation of %s names the problem without the credentials', (apiUrl, says) => {
    for (const [parse, inputs] of [
      [parseFederateInputs, {}],
      [parseRegisterAgentInputs, { 'agent-name': 'bot@acme.example' }],
      [parseIssueTokenInputs, { 'agent-id': AGENT_ID }]
    ] as const) {
      const message = inputProblem(parse, stepEnv({ 'api-url': apiUrl, ...inputs }))
      expect(message).toMatch(says)
      expectNoCredentials(message)
    }
  })

  it('http://user:secret@example.com: the message says both that credentials are refused and that https is needed', () => {
    const message = inputProblem(parseFederateInputs, stepEnv({ 'api-url': `http://${USER}:${PASSWORD}@example.com` }))
    expect(message).toMatch(/must not contain credentials/)
    expect(message).toMatch(/must use https/)
    expect(message).toContain('example.com')
    expectNoCredentials(message)
  })

  it.each([
    ['federate', runFederate, {}],
    ['register-agent', runRegisterAgent, { 'agent-name': 'bot@acme.example' }],
    ['issue-token', runIssueToken, { 'agent-id': AGENT_ID }]
  ] as const)('%s run: neither setFailed, stdout (::error::) nor the job summary carries the credentials', async (_name, run, inputs) => {
    for (const [apiUrl] of CASES) {
      const env = stepEnv({ 'api-url': apiUrl, ...inputs })
      const summaries: string[] = []
      // Without an injected core: the ::error:: line printed without loading @actions/core.
      const { stdout } = await captureStdout(() => run({ env, writeSummary: async (markdown) => void summaries.push(markdown) }))
      expect(process.exitCode).toBe(1)
      process.exitCode = 0
      expect(stdout).toMatch(/^::error::/)
      expectNoCredentials(stdout)
      // With a recording core.
      const rec = recordingCore()
      await run({ core: rec.core, env, writeSummary: async (markdown) => void summaries.push(markdown) })
      expect(rec.failed).toMatch(/Input 'api-url'/)
      expectNoCredentials(rec.printed())
      expect(summaries).toHaveLength(2)
      for (const summary of summaries) expectNoCredentials(summary)
    }
  })
})
