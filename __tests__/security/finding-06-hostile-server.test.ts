/**
 * Finding 6 (security review): workflow-command injection by a hostile server.
 *
 * The runner reads a step's stdout line by line (a line ends at "\n", "\r\n" or a bare
 * "\r") and runs a workflow command for any line whose trimmed start is `::`
 * (`::add-mask::`, `::stop-commands::`, `::warning::` ...) and for any line that contains
 * `##[` anywhere (`##[add-mask]`, `##[group]` ...). A server the actions talk to must not be
 * able to print such a line through anything it answers: names, namespaces, agent ids,
 * error descriptions, dry-run reasons, retry messages, headers.
 *
 * The actions run in process against a real node:http server on 127.0.0.1 that answers
 * hostile text in every field, with the real @actions/core writing to (captured) stdout. Each
 * write is tagged with the core method that made it, so a command core issues on purpose
 * (`::error::`, `::warning::`, `::add-mask::`, `::debug::`, one escaped line each) is told
 * from a command smuggled into a plain log line.
 */
import * as realCore from '@actions/core'
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from '@jest/globals'
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import { federateAction, run as runFederate } from '../../shared/client/actions/federate'
import { registerAgentAction } from '../../shared/client/actions/register-agent'
import { issueTokenAction } from '../../shared/client/actions/issue-token'
import { ActionError } from '../../shared/client/errors'
import { createHttpTransport } from '../../shared/client/http'
import { parseFederateInputs, parseIssueTokenInputs, parseRegisterAgentInputs } from '../../shared/client/inputs'
import { callJson } from '../../shared/client/json-call'
import type { IdTokenSource } from '../../shared/client/oidc'
import { Session } from '../../shared/client/session'
import { run as runIssueToken } from '../../shared/client/actions/issue-token'
import { run as runIssueTokenPost } from '../../shared/client/actions/issue-token-post'
import { run as runRegisterAgent } from '../../shared/client/actions/register-agent'
import type { ActionCore } from '../../shared/client/core'
import type { RunDeps } from '../../shared/client/session'
import { listenLocal } from '../../shared/testing/ports'
import { recordingCore, stepEnv, useClientWorld } from '../client/helpers'

/** The runner's test for a workflow command: a line whose trimmed start is `::`, or that contains `##[`. */
function isRunnerCommand(line: string): boolean {
  return line.trimStart().startsWith('::') || line.includes('##[')
}

/** Lines as the runner reads them: "\r\n", "\n" and a bare "\r" all end one. */
function runnerLines(text: string): string[] {
  return text.split(/\r\n|\r|\n/)
}

/** The runner's unescaping of a command's data (the inverse of @actions/core's escapeData). */
function unescapeData(data: string): string {
  return data.replace(/%0D/g, '\r').replace(/%0A/g, '\n').replace(/%25/g, '%')
}

/** Every way of starting a command the review listed, in one string. */
function hostile(field: string): string {
  return [
    `::warning::PWNED-${field}-start`,
    `\n::warning::PWNED-${field}-lf`,
    `\r::add-mask::PWNED-${field}-cr`,
    `\r\n   ::stop-commands::PWNED-${field}-spaces`,
    `\n\t::error::PWNED-${field}-tab`,
    `\u2028::notice::PWNED-${field}-ls\u0085::debug::PWNED-${field}-nel`,
    ` mid-line ##[add-mask]PWNED-${field}-hash and ##[group]PWNED-${field}-group`,
    '\u001b[31m\u0000\u0007'
  ].join('')
}

/** Header values cannot carry line breaks or control characters; `##[` and `::` they can. */
function hostileHeader(field: string): string {
  return `::warning::PWNED-${field} ##[add-mask]PWNED-${field}-hash`
}

type Handler = (req: IncomingMessage, res: ServerResponse, body: string) => void
const json =
  (status: number, body: unknown, headers: Record<string, string> = {}): Handler =>
  (_req, res) =>
    void res.writeHead(status, { 'content-type': 'application/json', ...headers }).end(JSON.stringify(body))

let server: Server
let apiUrl: string
/** Per route ("POST /path"), the answers in order; the last one repeats. */
let routes: Record<string, Handler[]> = {}
let requests: string[] = []

beforeAll(async () => {
  server = createServer((req, res) => {
    let body = ''
    req.setEncoding('utf8')
    req.on('data', (chunk: string) => (body += chunk))
    req.on('end', () => {
      const route = `${req.method} ${req.url}`
      requests.push(route)
      const answers = routes[route]
      if (!answers?.length) return void res.writeHead(404, { 'content-type': 'application/json' }).end('{"error":"not_found"}')
      const handler = answers.length > 1 ? answers.shift()! : answers[0]!
      handler(req, res, body)
    })
  })
  // Stops by itself: never keeps the test process alive, and is closed after the suite.
  server.unref()
  apiUrl = (await listenLocal(server)).url
})
afterAll(async () => {
  server.closeAllConnections()
  await new Promise((ok) => server.close(ok))
})

const world = useClientWorld({ runnerIdentity: { repository: 'acme/widgets', repositoryId: '123456789', ownerId: '4242', ref: 'refs/heads/main' } })

interface Write {
  /** The core method that wrote it; undefined for anything else. */
  by?: string
  text: string
}

/**
 * A core whose log methods are the real @actions/core (they write workflow commands and log
 * lines to stdout, as on a runner); outputs and state are kept in memory (on a runner they
 * are files, never log lines).
 */
function runnerCore(state: Record<string, string> = {}): { core: ActionCore; outputs: Record<string, string>; state: Record<string, string> } {
  const outputs: Record<string, string> = {}
  const tagged =
    <A extends unknown[]>(by: string, method: (...args: A) => void) =>
    (...args: A): void => {
      current = by
      try {
        method(...args)
      } finally {
        current = undefined
      }
    }
  const core: ActionCore = {
    setSecret: tagged('add-mask', (secret: string) => realCore.setSecret(secret)),
    setOutput: (name, value) => void (outputs[name] = value),
    setFailed: tagged('error', (message: string) => realCore.setFailed(message)),
    saveState: (name, value) => void (state[name] = value),
    getState: (name) => state[name] ?? '',
    debug: tagged('debug', (message: string) => realCore.debug(message)),
    info: tagged('info', (message: string) => realCore.info(message)),
    warning: tagged('warning', (message: string) => realCore.warning(message)),
    isDebug: () => true
  }
  return { core, outputs, state }
}

let current: string | undefined
let writes: Write[] = []
let originalWrite: typeof process.stdout.write

beforeEach(() => {
  routes = {}
  requests = []
  writes = []
  originalWrite = process.stdout.write.bind(process.stdout)
  process.stdout.write = (chunk: string | Uint8Array) => {
    writes.push({ by: current, text: typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8') })
    return true
  }
})
afterEach(() => {
  process.stdout.write = originalWrite
  process.exitCode = 0
})

function deps(core: ActionCore, inputs: Record<string, string>): Partial<RunDeps> {
  return {
    core,
    env: stepEnv(inputs, world.issuer),
    writeSummary: async (markdown) => void world.summaries.push(markdown),
    now: world.clock.now,
    sleep: world.clock.sleep,
    random: world.clock.random
  }
}

/**
 * Everything the runner would do with what the run printed: the commands core issued on
 * purpose are one line each and carry data that, once unescaped, holds no command (the data
 * is shown as an annotation or log line); every other line is no command at all. The job
 * summary has no such line either. Returns the lines found, for a readable failure.
 */
function injectedCommands(): string[] {
  const found: string[] = []
  for (const write of writes) {
    const own = write.by && write.by !== 'info' ? write.by : undefined
    const lines = runnerLines(write.text.replace(/\r?\n$/, ''))
    if (own) {
      if (lines.length !== 1 || !lines[0]!.startsWith(`::${own}::`)) found.push(`core.${own} wrote ${JSON.stringify(write.text)}`)
      if (write.text.includes('##[')) found.push(`##[ in core.${own}: ${JSON.stringify(write.text)}`)
      if (own === 'add-mask') continue
      const data = unescapeData(lines[0]!.slice(`::${own}::`.length))
      for (const line of runnerLines(data)) if (isRunnerCommand(line)) found.push(`in the text of core.${own}: ${JSON.stringify(line)}`)
    } else {
      for (const line of lines) if (isRunnerCommand(line)) found.push(`log line (${write.by ?? 'direct write'}): ${JSON.stringify(line)}`)
    }
  }
  for (const summary of world.summaries) {
    for (const line of runnerLines(summary)) if (isRunnerCommand(line)) found.push(`job summary: ${JSON.stringify(line)}`)
  }
  return found
}

const AGENT_ID = '0b6f3c9e-2d7a-4c1e-9f5b-8a2e4d6c1f30'
const ACCESS = 'at_hostile_server_token_4242'

describe('finding 6: a hostile server cannot print workflow commands into the log or the job summary', () => {
  it('the predicate catches what the runner would run (sanity check of the test itself)', () => {
    expect(runnerLines(hostile('x')).filter(isRunnerCommand)).toHaveLength(5)
    expect(isRunnerCommand('plain text')).toBe(false)
    expect(isRunnerCommand('text ##[group] inside')).toBe(true)
  })

  it('federate: hostile namespace, database, identity, url and expiresAt (outputs stay exact, their echo does not)', async () => {
    const data = {
      token: 'ws_token_hostile_4242',
      url: hostile('url'),
      namespace: hostile('namespace'),
      database: hostile('database'),
      identity: hostile('identity'),
      created: true,
      expiresAt: hostile('expiresAt')
    }
    routes['POST /v1/identity/federate'] = [json(201, { success: true, data })]
    const { core, outputs } = runnerCore()
    await runFederate(deps(core, { 'api-url': apiUrl }))
    expect(process.exitCode ?? 0).toBe(0)
    expect(outputs).toMatchObject({ url: data.url, namespace: data.namespace, database: data.database, identity: data.identity, 'expires-at': data.expiresAt })
    expect(writes.some((write) => write.by === 'info' && write.text.includes('PWNED-namespace'))).toBe(true)
    expect(injectedCommands()).toEqual([])
  })

  it('federate: a refusal in the {success: false, error, code} envelope', async () => {
    routes['POST /v1/identity/federate'] = [json(403, { success: false, error: hostile('error'), code: hostile('code') })]
    const { core } = runnerCore()
    await runFederate(deps(core, { 'api-url': apiUrl }))
    expect(process.exitCode).toBe(1)
    expect(injectedCommands()).toEqual([])
  })

  it('register-agent: hostile agentId, bootstrap token fields and a failing revocation (warning)', async () => {
    routes['POST /api/v1/oidc/token'] = [json(200, { access_token: ACCESS, expires_at: hostile('expires_at'), scope: hostile('scope'), agent_id: hostile('agent_id') })]
    routes['POST /api/v1/agents'] = [json(201, { agentId: hostile('agentId'), created: true })]
    routes['POST /api/v1/oauth/revoke'] = [json(400, { error: hostile('revoke-error'), error_description: hostile('revoke-description') })]
    const { core, outputs } = runnerCore()
    await runRegisterAgent(deps(core, { 'api-url': apiUrl, 'agent-name': 'bot@acme.example' }))
    expect(process.exitCode ?? 0).toBe(0)
    expect(outputs['agent-id']).toBe(hostile('agentId'))
    expect(writes.some((write) => write.by === 'warning')).toBe(true)
    expect(injectedCommands()).toEqual([])
  })

  it('issue-token and its post step: hostile expires_at and scope, saved and echoed; a failing revocation', async () => {
    routes['POST /api/v1/oidc/token'] = [json(200, { access_token: ACCESS, expires_at: hostile('expires_at'), scope: hostile('scope') })]
    routes['POST /api/v1/oauth/revoke'] = [json(500, { error: hostile('revoke-error'), error_description: hostile('revoke-description') })]
    const main = runnerCore()
    await runIssueToken(deps(main.core, { 'api-url': apiUrl, 'agent-id': AGENT_ID }))
    expect(main.outputs['expires-at']).toBe(hostile('expires_at'))
    const post = runnerCore(main.state)
    await runIssueTokenPost(deps(post.core, {}))
    expect(requests).toContain('POST /api/v1/oauth/revoke')
    expect(injectedCommands()).toEqual([])
  })

  it('a refusal: hostile error and error_description end up in setFailed, the headline and the summary', async () => {
    routes['POST /api/v1/oidc/token'] = [json(403, { error: hostile('error'), error_description: hostile('error_description') })]
    const { core } = runnerCore()
    await runIssueToken(deps(core, { 'api-url': apiUrl, 'agent-id': AGENT_ID, 'max-attempts': '1' }))
    expect(process.exitCode).toBe(1)
    expect(world.summaries).toHaveLength(1)
    expect(injectedCommands()).toEqual([])
  })

  it('retries: 503 and 429 with hostile descriptions and Retry-After, logged per attempt, then given up', async () => {
    routes['POST /api/v1/oidc/token'] = [
      json(503, { error: hostile('503-error'), error_description: hostile('503-description') }, { 'retry-after': hostileHeader('retry-after') }),
      json(429, { error: hostile('429-error'), error_description: hostile('429-description') }, { 'retry-after': '1' }),
      json(429, { error: 'rate_limited', error_description: hostile('last-description') }, { 'retry-after': '600' })
    ]
    const { core } = runnerCore()
    await runIssueToken(deps(core, { 'api-url': apiUrl, 'agent-id': AGENT_ID, 'max-attempts': '5' }))
    expect(requests.filter((r) => r === 'POST /api/v1/oidc/token')).toHaveLength(3)
    expect(writes.filter((write) => write.by === 'info' && /attempt \d of 5 failed/.test(write.text))).toHaveLength(2)
    expect(process.exitCode).toBe(1)
    expect(injectedCommands()).toEqual([])
  })

  it.each([
    ['register-agent', { 'agent-name': 'bot@acme.example' }],
    ['issue-token', { 'agent-id': AGENT_ID }]
  ] as const)('%s dry run: hostile reason, code, claim and policyId of a refusal', async (action, inputs) => {
    routes['POST /api/v1/oidc/explain'] = [
      json(200, { allowed: false, reason: hostile('reason'), code: hostile('code'), claim: hostile('claim'), policyId: hostile('policyId') })
    ]
    const { core, outputs } = runnerCore()
    const run = action === 'register-agent' ? runRegisterAgent : runIssueToken
    await run(deps(core, { 'api-url': apiUrl, 'dry-run': 'true', ...inputs }))
    expect(outputs.allowed).toBe('false')
    expect(process.exitCode).toBe(1)
    expect(injectedCommands()).toEqual([])
  })

  it('dry run allowed: a hostile policyId is echoed safely', async () => {
    routes['POST /api/v1/oidc/explain'] = [json(200, { allowed: true, policyId: hostile('policyId') })]
    const { core, outputs } = runnerCore()
    await runIssueToken(deps(core, { 'api-url': apiUrl, 'agent-id': AGENT_ID, 'dry-run': 'true' }))
    expect(outputs.allowed).toBe('true')
    expect(injectedCommands()).toEqual([])
  })

  it('answers that are not the API: a hostile HTML title, content type and redirect location', async () => {
    const title = '##[add-mask]PWNED-title\n::warning::PWNED-title-lf'
    routes['POST /v1/identity/federate'] = [(_req, res) => void res.writeHead(200, { 'content-type': 'text/html' }).end(`<html><head><title>${title}</title></head></html>`)]
    await runFederate(deps(runnerCore().core, { 'api-url': apiUrl }))
    routes['POST /v1/identity/federate'] = [(_req, res) => void res.writeHead(404, { 'content-type': hostileHeader('content-type') }).end('nope')]
    await runFederate(deps(runnerCore().core, { 'api-url': apiUrl }))
    routes['POST /v1/identity/federate'] = [(_req, res) => void res.writeHead(302, { location: `https://evil.example/${hostileHeader('location')}` }).end()]
    await runFederate(deps(runnerCore().core, { 'api-url': apiUrl }))
    expect(world.summaries).toHaveLength(3)
    expect(writes.filter((write) => write.by === 'error')).toHaveLength(3)
    expect(injectedCommands()).toEqual([])
  })
})

/**
 * The same answers, one layer down: what the client builds from them is inert before any
 * logger sees it (guardedLog is the last line of defence, not the only one).
 */
describe('finding 6: server text is neutralised where it enters the client', () => {
  function expectInert(text: string | undefined): void {
    expect(text).toBeDefined()
    expect(runnerLines(text!)).toHaveLength(1)
    expect(isRunnerCommand(text!)).toBe(false)
    // eslint-disable-next-line no-control-regex -- matching control characters is the point of the check
    expect(text).not.toMatch(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/)
  }

  async function refusal(handler: Handler): Promise<ActionError> {
    routes['POST /x'] = [handler]
    const error = await callJson(createHttpTransport(), { method: 'POST', url: `${apiUrl}/x`, body: '{}', timeoutMs: 5000 }, (t) => t, Date.now).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(ActionError)
    return error as ActionError
  }

  it('callJson: the error message, serverCode and serverMessage built from a hostile body or headers', async () => {
    for (const error of [
      await refusal(json(403, { error: hostile('error'), error_description: hostile('error_description') })),
      await refusal(json(503, { success: false, code: hostile('code'), error: hostile('error') }, { 'retry-after': hostileHeader('retry-after') })),
      await refusal((_req, res) => void res.writeHead(200, { 'content-type': 'text/html' }).end(`<title>##[add-mask]x\n::warning::y</title>`)),
      await refusal((_req, res) => void res.writeHead(415, { 'content-type': hostileHeader('ctype') }).end('x')),
      await refusal((_req, res) => void res.writeHead(307, { location: hostileHeader('location') }).end())
    ]) {
      expectInert(error.message)
      if (error.serverCode !== undefined) expectInert(error.serverCode)
      if (error.serverMessage !== undefined) expectInert(error.serverMessage)
    }
  })

  /** A session on a core without guardedLog: what the actions print themselves. */
  function rawSession(): { session: Session; printed: () => string[]; outputs: Record<string, string> } {
    const rec = recordingCore()
    const session = new Session(
      {
        core: rec.core,
        http: createHttpTransport(),
        sleep: world.clock.sleep,
        now: world.clock.now,
        random: world.clock.random,
        env: {},
        writeSummary: async () => undefined
      },
      { maxAttempts: 1, timeoutSeconds: 30 }
    )
    return { session, printed: () => [...rec.infos, ...rec.warnings, ...rec.debugs], outputs: rec.outputs }
  }
  const tokens = { get: async () => ({ value: 'oidc', claims: {} }), claims: {}, audience: 'a' } as unknown as IdTokenSource

  it('the actions echo outputs neutralised (the outputs themselves stay exact)', async () => {
    const data = {
      token: 'ws_token_4242',
      url: hostile('url'),
      namespace: hostile('namespace'),
      database: hostile('database'),
      identity: hostile('identity'),
      created: false,
      expiresAt: hostile('expiresAt')
    }
    routes['POST /v1/identity/federate'] = [json(200, { success: true, data })]
    routes['POST /api/v1/oidc/token'] = [json(200, { access_token: ACCESS, expires_at: hostile('expires_at'), scope: hostile('scope') })]
    routes['POST /api/v1/agents'] = [json(200, { agentId: hostile('agentId'), created: false })]
    routes['POST /api/v1/oauth/revoke'] = [json(200, {})]
    const results = []
    const federate = rawSession()
    results.push(await federateAction.execute(federate.session, parseFederateInputs(stepEnv({ 'api-url': apiUrl })), tokens))
    expect(federate.outputs.namespace).toBe(data.namespace)
    const register = rawSession()
    results.push(await registerAgentAction.execute(register.session, parseRegisterAgentInputs(stepEnv({ 'api-url': apiUrl, 'agent-name': 'bot@acme.example' })), tokens))
    expect(register.outputs['agent-id']).toBe(hostile('agentId'))
    const issue = rawSession()
    results.push(await issueTokenAction.execute(issue.session, parseIssueTokenInputs(stepEnv({ 'api-url': apiUrl, 'agent-id': AGENT_ID, revoke: 'false' })), tokens))
    expect(issue.outputs['expires-at']).toBe(hostile('expires_at'))
    for (const line of [...federate.printed(), ...register.printed(), ...issue.printed()]) expectInert(line)
    for (const outcome of results) {
      expectInert(outcome.headline)
      for (const [, value] of outcome.result) expectInert(value)
    }
  })

  it('dry run: the refusal built from a hostile explanation', async () => {
    routes['POST /api/v1/oidc/explain'] = [
      json(200, { allowed: false, reason: hostile('reason'), code: hostile('code'), claim: hostile('claim'), policyId: hostile('policyId') })
    ]
    const { session } = rawSession()
    const error = (await issueTokenAction
      .execute(session, parseIssueTokenInputs(stepEnv({ 'api-url': apiUrl, 'agent-id': AGENT_ID, 'dry-run': 'true' })), tokens)
      .catch((e: unknown) => e)) as ActionError
    expect(error.code).toBe('dry_run_denied')
    expectInert(error.message)
    expectInert(error.serverCode)
    expectInert(error.serverMessage)
  })
})
