/**
 * federate end to end in process, and masking with the real @actions/core: every secret
 * (OIDC token, workspace token, anything token-like a server echoes) is announced with
 * ::add-mask:: before it appears anywhere else, and never appears in clear in the log,
 * the messages or the job summary.
 */
import { afterEach, beforeEach, describe, expect, it } from '@jest/globals'
import nock from 'nock'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { run as runFederate } from '../../shared/client/actions/federate'
import { run as runIssueToken } from '../../shared/client/actions/issue-token'
import { SecretRegistry } from '../../shared/client/secrets'
import type { RunDeps } from '../../shared/client/session'
import { captureStdout, fakeClock, stepEnv, useClientWorld } from './helpers'

const API = 'https://db.example.test'
const WORKSPACE_TOKEN = 'ws_live_7c1d9e0f2a3b4c5d'
const AGENT_ID = '0b6f3c9e-2d7a-4c1e-9f5b-8a2e4d6c1f30'

const world = useClientWorld()
afterEach(() => nock.cleanAll())

function deps(inputs: Record<string, string>): Partial<RunDeps> {
  const clock = fakeClock()
  return {
    core: world.rec.core,
    env: stepEnv({ 'api-url': API, ...inputs }, world.issuer),
    writeSummary: async (markdown) => void world.summaries.push(markdown),
    now: clock.now,
    sleep: clock.sleep,
    random: clock.random
  }
}

const workspace = (created: boolean) => ({
  success: true,
  data: {
    token: WORKSPACE_TOKEN,
    url: `${API}/v1/db/ns_acme_widgets/main`,
    namespace: 'ns_acme_widgets',
    database: 'main',
    identity: 'acme/widgets',
    created,
    expiresAt: '2030-01-01T01:00:00.000Z'
  }
})

describe('federate', () => {
  it('sends the OIDC token as bearer with audience persql and no body, and sets every output', async () => {
    let authorization = ''
    let body = ''
    nock(API)
      .post('/v1/identity/federate')
      .reply(function (_uri, requestBody) {
        authorization = String(this.req.headers.authorization)
        body = typeof requestBody === 'string' ? requestBody : JSON.stringify(requestBody)
        return [201, workspace(true)]
      })
    await runFederate(deps({}))
    expect(world.rec.failed).toBeUndefined()
    const oidc = world.issuer.issuedByRunner.at(-1)!
    expect(authorization).toBe(`Bearer ${oidc}`)
    expect(body).toBe('')
    expect(JSON.parse(Buffer.from(oidc.split('.')[1]!, 'base64url').toString()).aud).toBe('persql')
    expect(world.rec.outputs).toEqual({
      token: WORKSPACE_TOKEN,
      url: `${API}/v1/db/ns_acme_widgets/main`,
      namespace: 'ns_acme_widgets',
      database: 'main',
      identity: 'acme/widgets',
      created: 'true',
      'expires-at': '2030-01-01T01:00:00.000Z'
    })
    // Only the token is masked: the rest must pass through job outputs.
    expect(world.rec.masked).toEqual([oidc, WORKSPACE_TOKEN])
    expect(world.summaries[0]).toMatch(/### ✅ federate: workspace created for acme\/widgets/)
    expect(world.summaries[0]).toContain('| namespace | ns_acme_widgets |')
    expect(world.summaries[0]).toContain('| audience | persql |')
    expect(world.summaries[0]).not.toContain(WORKSPACE_TOKEN)
  })

  it('reports created=false on a later run (200) and says it reused the workspace', async () => {
    nock(API).post('/v1/identity/federate').reply(200, workspace(false))
    await runFederate(deps({}))
    expect(world.rec.outputs.created).toBe('false')
    expect(world.rec.infos.at(-1)).toMatch(/^Reusing workspace ns_acme_widgets for acme\/widgets/)
  })

  it('refuses an answer without the envelope', async () => {
    nock(API).post('/v1/identity/federate').reply(200, { token: WORKSPACE_TOKEN })
    await runFederate(deps({}))
    expect(world.rec.failed).toMatch(/without the expected \{success: true, data: \{token, url, \.\.\.\}\} envelope/)
    expect(world.rec.outputs).toEqual({})
  })
})

describe('masking with the real @actions/core', () => {
  let dir: string
  const saved: Record<string, string | undefined> = {}
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'federate-mask-'))
    for (const name of ['GITHUB_OUTPUT', 'GITHUB_STATE', 'GITHUB_STEP_SUMMARY']) {
      saved[name] = process.env[name]
      process.env[name] = join(dir, name)
      await writeFile(join(dir, name), '')
    }
  })
  afterEach(async () => {
    for (const [name, value] of Object.entries(saved)) {
      if (value === undefined) delete process.env[name]
      else process.env[name] = value
    }
    process.exitCode = 0
    await rm(dir, { recursive: true, force: true })
  })

  /** Runs with no injected core (the real one), capturing its stdout. */
  async function runReal(run: (deps: Partial<RunDeps>) => Promise<void>, inputs: Record<string, string>) {
    const { stdout } = await captureStdout(() => run({ env: { ...process.env, ...stepEnv({ 'api-url': API, ...inputs }, world.issuer) }, sleep: async () => undefined }))
    const summary = await readFile(join(dir, 'GITHUB_STEP_SUMMARY'), 'utf8')
    return { stdout, summary }
  }

  function expectMaskedFirst(stdout: string, secret: string): void {
    const mask = stdout.indexOf(`::add-mask::${secret}`)
    expect(mask).toBeGreaterThanOrEqual(0)
    const withoutMaskLines = stdout
      .split('\n')
      .filter((line) => !line.startsWith('::add-mask::'))
      .join('\n')
    expect(withoutMaskLines).not.toContain(secret)
  }

  it('masks the OIDC and workspace tokens before anything else prints them', async () => {
    nock(API).post('/v1/identity/federate').reply(201, workspace(true))
    const { stdout, summary } = await runReal(runFederate, {})
    expectMaskedFirst(stdout, world.issuer.issuedByRunner.at(-1)!)
    expectMaskedFirst(stdout, WORKSPACE_TOKEN)
    expect(summary).toContain('acme/widgets')
    expect(summary).not.toContain(WORKSPACE_TOKEN)
    expect(summary).not.toContain(world.issuer.issuedByRunner.at(-1)!)
    // The output file holds the token (that is its job), written after the mask.
    expect(await readFile(join(dir, 'GITHUB_OUTPUT'), 'utf8')).toContain(WORKSPACE_TOKEN)
  })

  it('never prints the OIDC token or a secret the server echoes in an error body', async () => {
    const echoed = 'sk_live_echoed_4242424242'
    nock(API)
      .post('/api/v1/oidc/token')
      .reply(function (_uri, body) {
        const { token } = body as { token: string }
        return [
          400,
          {
            error: 'invalid_request',
            error_description: `bad token ${token}; "access_token": "${echoed}"; Authorization: Bearer ${echoed}`
          }
        ]
      })
    const { stdout, summary } = await runReal(runIssueToken, { 'agent-id': AGENT_ID })
    const oidc = world.issuer.issuedByRunner.at(-1)!
    expectMaskedFirst(stdout, oidc)
    expect(stdout).not.toContain(echoed)
    expect(summary).not.toContain(echoed)
    expect(summary).not.toContain(oidc)
    expect(stdout).toMatch(/::error::issue-token: exchanging .*bad token \*\*\*; "access_token": "\*\*\*"; Authorization: \*\*\*/)
    expect(process.exitCode).toBe(1)
  })
})

describe('SecretRegistry', () => {
  it('masks each secret once and scrubs known secrets, JWTs and bearer values from text', () => {
    const masked: string[] = []
    const secrets = new SecretRegistry((s) => masked.push(s))
    secrets.add('abc-secret-1')
    secrets.add('abc-secret-1')
    expect(masked).toEqual(['abc-secret-1'])
    const jwt = 'eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl'
    expect(secrets.scrub(`a abc-secret-1 b ${jwt} Bearer zzzzzzzz`)).toBe('a *** b *** Bearer ***')
    // Prose about permissions is left alone; only echoes get field scrubbing.
    expect(secrets.scrub('permissions: id-token: write')).toBe('permissions: id-token: write')
    expect(secrets.scrubEcho('{"refresh_token":"qwertyuiop"}')).toBe('{"refresh_token":"***"}')
  })
})
