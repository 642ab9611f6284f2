import { describe, expect, it } from '@jest/globals'
import { ActionError } from '../../shared/client/errors'
import { endpoint, parseFederateInputs, parseIssueTokenInputs, parseRegisterAgentInputs, type Env } from '../../shared/client/inputs'
import { stepEnv } from './helpers'

const AGENT_ID = '0b6f3c9e-2d7a-4c1e-9f5b-8a2e4d6c1f30'

function problem(parse: (env: Env) => unknown, inputs: Record<string, string>): string {
  try {
    parse(stepEnv(inputs))
  } catch (error) {
    expect(error).toBeInstanceOf(ActionError)
    expect((error as ActionError).code).toBe('invalid_input')
    return (error as ActionError).message
  }
  throw new Error('expected the inputs to be refused')
}

describe('api-url', () => {
  it.each([
    [{}, /Input 'api-url' is required: set it to the server's base URL/],
    [{ 'api-url': 'idp.example.com' }, /Input 'api-url' is not a URL \('idp.example.com'\)/],
    [{ 'api-url': 'http://idp.example.com' }, /Input 'api-url' must use https.*only for localhost, 127.0.0.1 and \[::1\]/],
    [{ 'api-url': 'ftp://idp.example.com' }, /Input 'api-url' must use https/],
    [{ 'api-url': 'https://user:pw@idp.example.com' }, /Input 'api-url' must not contain credentials/],
    [{ 'api-url': 'https://idp.example.com/?x=1' }, /Input 'api-url' must not have a query or fragment/]
  ])('refuses %j with a message naming the input', (inputs, message) => {
    expect(problem(parseFederateInputs, inputs)).toMatch(message)
  })

  it.each(['http://localhost:8080', 'http://127.0.0.1:8080', 'http://[::1]:8080', 'https://idp.example.com'])('accepts %s', (url) => {
    expect(parseFederateInputs(stepEnv({ 'api-url': url })).apiUrl.origin).toBe(new URL(url).origin)
  })

  it('keeps a base path and appends endpoints under it', () => {
    const { apiUrl } = parseFederateInputs(stepEnv({ 'api-url': 'https://example.com/idp//' }))
    expect(endpoint(apiUrl, 'api/v1/oidc/token')).toBe('https://example.com/idp/api/v1/oidc/token')
    const bare = parseFederateInputs(stepEnv({ 'api-url': 'https://example.com' })).apiUrl
    expect(endpoint(bare, '/v1/identity/federate')).toBe('https://example.com/v1/identity/federate')
  })

  it('trims whitespace like @actions/core', () => {
    expect(parseFederateInputs(stepEnv({ 'api-url': '  https://idp.example.com \n' })).apiUrl.host).toBe('idp.example.com')
  })
})

describe('audience', () => {
  it('defaults to persql for federate', () => {
    expect(parseFederateInputs(stepEnv({ 'api-url': 'https://db.example.com' })).audience).toBe('persql')
  })

  it('defaults to the origin of api-url for the agent actions (not its path)', () => {
    const register = parseRegisterAgentInputs(stepEnv({ 'api-url': 'https://idp.example.com:8443/base/', 'agent-name': 'bot@acme.io' }))
    expect(register.audience).toBe('https://idp.example.com:8443')
    const issue = parseIssueTokenInputs(stepEnv({ 'api-url': 'http://127.0.0.1:8080', 'agent-id': AGENT_ID }))
    expect(issue.audience).toBe('http://127.0.0.1:8080')
  })

  it('takes an explicit audience over the default', () => {
    expect(parseFederateInputs(stepEnv({ 'api-url': 'https://db.example.com', audience: 'custom' })).audience).toBe('custom')
    const issue = parseIssueTokenInputs(stepEnv({ 'api-url': 'https://idp.example.com', 'agent-id': AGENT_ID, audience: 'sts' }))
    expect(issue.audience).toBe('sts')
  })
})

describe('register-agent inputs', () => {
  it.each(['bot', 'bot@', '@acme.io', 'two words@acme.io', 'bot@acme'])('refuses agent-name %j as not an email', (name) => {
    expect(problem(parseRegisterAgentInputs, { 'api-url': 'https://idp.example.com', 'agent-name': name })).toMatch(
      /Input 'agent-name' must be an email-format name like release-bot@acme.example/
    )
  })

  it('requires agent-name', () => {
    expect(problem(parseRegisterAgentInputs, { 'api-url': 'https://idp.example.com' })).toMatch(/Input 'agent-name' is required/)
  })

  it('reads description and dry-run', () => {
    const inputs = parseRegisterAgentInputs(
      stepEnv({ 'api-url': 'https://idp.example.com', 'agent-name': 'bot@acme.io', 'agent-description': 'release bot', 'dry-run': 'true' })
    )
    expect(inputs).toMatchObject({ agentName: 'bot@acme.io', agentDescription: 'release bot', dryRun: true, maxAttempts: 5, timeoutSeconds: 90 })
  })

  it('reports every problem at once', () => {
    const message = problem(parseRegisterAgentInputs, { 'api-url': 'http://idp.example.com', 'agent-name': 'bot', 'max-attempts': '0' })
    expect(message).toMatch(/^Invalid inputs:\n- Input 'api-url'.*\n- Input 'agent-name'.*\n- Input 'max-attempts'/s)
  })
})

describe('expires-in (register-agent)', () => {
  const base = { 'api-url': 'https://idp.example.com', 'agent-name': 'bot@acme.io' }

  it.each([
    ['90s', 90],
    ['30m', 1800],
    ['1h', 3600],
    ['7d', 604_800],
    [' 2h ', 7200]
  ])('reads %j as %d seconds', (value, seconds) => {
    expect(parseRegisterAgentInputs(stepEnv({ ...base, 'expires-in': value })).expiresIn).toBe(seconds)
  })

  it('is unset by default (the agent does not expire)', () => {
    expect(parseRegisterAgentInputs(stepEnv(base)).expiresIn).toBeUndefined()
  })

  it.each(['0s', '30', '1w', '1.5h', '-1h', '1h30m', '1 h', 'PT1H', '99999999999999999999d', '3651d'])('refuses %j, showing the accepted forms', (value) => {
    expect(problem(parseRegisterAgentInputs, { ...base, 'expires-in': value })).toBe(
      `Input 'expires-in' must be a duration (the agent's lifetime from now): a positive whole number followed by s, m, h or d, e.g. 90s, 30m, 1h, 7d (at most 3650d); got '${value.trim()}'.`
    )
  })
})

describe('scope and token-audience', () => {
  const issue = { 'api-url': 'https://idp.example.com', 'agent-id': AGENT_ID }

  it('are unset by default', () => {
    expect(parseIssueTokenInputs(stepEnv(issue))).toMatchObject({ scope: undefined, tokenAudience: undefined })
    expect(parseFederateInputs(stepEnv({ 'api-url': 'https://db.example.com' })).scope).toBeUndefined()
  })

  it('reads scopes separated by any whitespace, each once, in the given order', () => {
    expect(parseIssueTokenInputs(stepEnv({ ...issue, scope: ' releases:write\n  agent releases:write ' })).scope).toBe('releases:write agent')
    expect(parseFederateInputs(stepEnv({ 'api-url': 'https://db.example.com', scope: 'db:read' })).scope).toBe('db:read')
  })

  it.each(['"db:read"', 'db\\read'])('refuses scope %j (not RFC 6749 scope characters)', (scope) => {
    expect(problem(parseFederateInputs, { 'api-url': 'https://db.example.com', scope })).toMatch(/^Input 'scope' must be scope names separated by spaces .*`scope: db:read`/)
  })

  it('reads one token-audience and refuses several', () => {
    expect(parseIssueTokenInputs(stepEnv({ ...issue, 'token-audience': 'https://api.acme.example' })).tokenAudience).toBe('https://api.acme.example')
    expect(problem(parseIssueTokenInputs, { ...issue, 'token-audience': 'https://a.example https://b.example' })).toMatch(
      /^Input 'token-audience' must be one audience without spaces/
    )
  })
})

describe('issue-token inputs', () => {
  const base = { 'api-url': 'https://idp.example.com', 'agent-id': AGENT_ID }

  it('requires agent-id and says where it comes from', () => {
    expect(problem(parseIssueTokenInputs, { 'api-url': 'https://idp.example.com' })).toMatch(/Input 'agent-id' is required: pass the id that register-agent printed/)
  })

  it('refuses an agent-id that is not a UUID', () => {
    expect(problem(parseIssueTokenInputs, { ...base, 'agent-id': 'bot@acme.io' })).toMatch(/Input 'agent-id' must be an agent id \(a UUID/)
  })

  it.each(['0', '-5', '1.5', 'ten', '15m', '99999999999999999999'])('refuses ttl %j', (ttl) => {
    expect(problem(parseIssueTokenInputs, { ...base, ttl })).toMatch(new RegExp(`Input 'ttl' must be a positive whole number .*got '${ttl.replace('.', '\\.')}'`))
  })

  it.each(['yes', 'no', '1', '0', 'on', 'tRuE'])('parses booleans strictly: revoke %j is refused', (value) => {
    expect(problem(parseIssueTokenInputs, { ...base, revoke: value })).toMatch(new RegExp(`Input 'revoke' must be true or false, got '${value}'`))
    expect(problem(parseIssueTokenInputs, { ...base, 'dry-run': value })).toMatch(/Input 'dry-run' must be true or false/)
  })

  it('defaults revoke to true, dry-run to false, ttl to the server default', () => {
    expect(parseIssueTokenInputs(stepEnv(base))).toMatchObject({ revoke: true, dryRun: false, ttl: undefined })
    expect(parseIssueTokenInputs(stepEnv({ ...base, revoke: 'False', ttl: '300' }))).toMatchObject({ revoke: false, ttl: 300 })
  })

  it.each([
    ['max-attempts', 'many'],
    ['timeout-seconds', '0'],
    ['timeout-seconds', '1e3']
  ])('refuses %s %j', (name, value) => {
    expect(problem(parseIssueTokenInputs, { ...base, [name]: value })).toMatch(new RegExp(`Input '${name}' must be a positive whole number`))
  })
})
