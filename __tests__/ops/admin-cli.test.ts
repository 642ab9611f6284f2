/**
 * The admin CLI as an operator runs it: a real CLI process against a real server process.
 */
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals'
import { createServer, type Server } from 'node:http'
import { run } from '../../shared/admin-cli/cli'
import { freePort, listenLocal } from '../../shared/testing/ports'
import { waitFor } from '../../shared/testing/wait-for'
import { runCli, startOps, type CliResult, type Ops } from './fixture'

jest.setTimeout(120_000)

describe('federate-admin against a server process', () => {
  let ops: Ops
  let env: Record<string, string>
  const outputs: CliResult[] = []
  const cli = async (
    args: string[],
    options: { stdin?: string; env?: Record<string, string | undefined>; entry?: 'node' | 'npm' | 'npx'; onStdout?: (stdout: string) => void } = {}
  ) => {
    const result = await runCli(args, { ...env, ...options.env }, options)
    outputs.push(result)
    return result
  }

  let agentId: string
  let agentToken: string

  beforeAll(async () => {
    ops = await startOps()
    env = { FEDERATE_URL: ops.server.url, FEDERATE_ADMIN_TOKEN: ops.server.adminToken }
  })
  afterAll(async () => ops?.close())

  it('creates, lists and deletes trust policies (table by default, --json for scripts)', async () => {
    const created = await cli(['policy', 'create', '--repository', 'acme/gadgets', '--branch', 'main', '--events', 'push,workflow_dispatch', '--json'])
    expect(created).toMatchObject({ code: 0, stderr: '' })
    const policy = JSON.parse(created.stdout)
    expect(policy).toMatchObject({ repository: 'acme/gadgets', branch: 'main', events: ['push', 'workflow_dispatch'] })

    const table = await cli(['policy', 'list'])
    expect(table.code).toBe(0)
    expect(table.stdout.split('\n')[0]).toMatch(/^ID\s+REPOSITORY\s+BRANCH\s+AGENT/)
    expect(table.stdout).toContain(policy.id)
    expect(table.stdout).toMatch(/acme\/gadgets\s+main\s+-/)

    const listed = JSON.parse((await cli(['policy', 'list', '--json'])).stdout)
    expect(listed.map((p: { id: string }) => p.id)).toContain(policy.id)

    expect(await cli(['policy', 'delete', policy.id])).toMatchObject({ code: 0, stdout: `deleted trust policy ${policy.id}\n` })
    const again = await cli(['policy', 'delete', policy.id])
    expect(again.code).toBe(1)
    expect(again.stderr).toBe(`federate-admin: no trust policy ${policy.id} (404 not_found)\n`)
  })

  it('refuses a policy the server finds invalid with exit code 1 and its reason', async () => {
    const bad = await cli(['policy', 'create', '--repository', 'not a repository'])
    expect(bad.code).toBe(1)
    expect(bad.stderr).toMatch(/^federate-admin: .*\(400 invalid_request\)\n$/)
  })

  it('shows an agent with its credentials, introspects a token read from stdin, revokes a credential', async () => {
    expect((await cli(['policy', 'create', '--repository', 'acme/widgets'])).code).toBe(0)
    const bootstrap = await ops.call('POST', '/api/v1/oidc/token', {
      body: { provider: 'github', token: await ops.oidcToken(ops.server.url) }
    })
    expect(bootstrap.status).toBe(200)
    const registered = await ops.call('POST', '/api/v1/agents', {
      token: bootstrap.body.access_token,
      body: { name: 'cli-bot@acme.example', description: 'made by the CLI test' }
    })
    agentId = registered.body.agentId
    expect((await cli(['policy', 'create', '--repository', 'acme/widgets', '--agent-id', agentId])).code).toBe(0)
    const exchanged = await ops.call('POST', '/api/v1/oidc/token', {
      body: { provider: 'github', token: await ops.oidcToken(ops.server.url), agentId }
    })
    expect(exchanged.status).toBe(200)
    agentToken = exchanged.body.access_token

    const introspected = await cli(['token', 'introspect', '--json'], { stdin: `${agentToken}\n` })
    expect(introspected.code).toBe(0)
    const claims = JSON.parse(introspected.stdout)
    expect(claims).toMatchObject({ active: true, sub: agentId, scope: 'agent' })
    const credentialId = claims.jti as string

    const shown = await cli(['agent', 'show', agentId])
    expect(shown.code).toBe(0)
    expect(shown.stdout).toMatch(new RegExp(`^agent:\\s+${agentId}$`, 'm'))
    expect(shown.stdout).toMatch(/^name:\s+cli-bot@acme\.example$/m)
    expect(shown.stdout).toMatch(/^status:\s+active$/m)
    expect(shown.stdout).toMatch(new RegExp(`^${credentialId}\\s+agent\\s+active\\s+agent\\s`, 'm'))
    const json = JSON.parse((await cli(['agent', 'show', agentId, '--json'])).stdout)
    expect(json.credentials.map((c: { id: string }) => c.id)).toEqual([credentialId])

    const human = await cli(['token', 'introspect'], { stdin: agentToken })
    expect(human.stdout).toMatch(/^active:\s+true$/m)
    expect(human.stdout).toMatch(new RegExp(`^subject:\\s+${agentId}$`, 'm'))

    expect(await cli(['credential', 'revoke', agentId, credentialId])).toMatchObject({
      code: 0,
      stdout: `revoked credential ${credentialId} of agent ${agentId}\n`
    })
    expect((await cli(['token', 'introspect'], { stdin: agentToken })).stdout).toMatch(/^active: false/)
    expect((await cli(['agent', 'show', agentId])).stdout).toMatch(new RegExp(`^${credentialId}\\s+agent\\s+revoked`, 'm'))
  })

  it('refuses a token given as an argument (it would land in shell history)', async () => {
    const result = await cli(['token', 'introspect', 'eyJhbGciOi.eyJzdWIi.c2ln'])
    expect(result.code).toBe(2)
    expect(result.stderr).toContain('standard input')
    expect(result.stderr).not.toContain('eyJhbGciOi')
  })

  it('tails the audit log, and follows it for a bounded time', async () => {
    const tail = await cli(['audit', 'tail', '--limit', '5'])
    expect(tail.code).toBe(0)
    const lines = tail.stdout.trim().split('\n')
    expect(lines[0]).toMatch(/^AT\s+ACTION\s+OUTCOME/)
    expect(lines.length).toBe(6)
    expect(tail.stdout).toMatch(/credential\.revoke/)

    const forAgent = await cli(['audit', 'tail', '--agent', agentId, '--json'])
    const events = forAgent.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l))
    expect(events.every((e: { identityId: string }) => e.identityId === agentId)).toBe(true)
    expect(events.map((e: { action: string }) => e.action)).toEqual(expect.arrayContaining(['agent.register', 'token.exchange', 'credential.revoke']))
    // Oldest first, like `tail`.
    expect(events.map((e: { at: string }) => e.at)).toEqual([...events.map((e: { at: string }) => e.at)].sort())

    let printed = ''
    const following = cli(['audit', 'tail', '--limit', '1', '--follow', '--interval', '0.2', '--for', '4', '--json'], { onStdout: (stdout) => (printed = stdout) })
    // It has read the audit log once (and printed its latest event): what comes now, it finds by following.
    await waitFor(() => printed.includes('\n'), { timeoutMs: 30_000, what: 'the first line of audit tail --follow' })
    const denied = await ops.call('POST', '/api/v1/oidc/token', {
      body: { provider: 'github', token: await ops.oidcToken(ops.server.url, { repository: 'evil/repo', repositoryId: '666', ownerId: '7' }) }
    })
    expect(denied.status).toBe(403)
    const followed = await following
    expect(followed.code).toBe(0)
    const seen = followed.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l))
    const denials = seen.filter((e: { repository: string }) => e.repository === 'evil/repo')
    expect(denials).toHaveLength(1)
    expect(denials[0].detail).toMatchObject({ outcome: 'denied', code: 'trust_policy_violation' })
    expect(new Set(seen.map((e: { id: string }) => e.id)).size).toBe(seen.length)
  })

  it('updates an agent (owner, allowed scopes, expiry; "none" clears one) and rotates its credentials', async () => {
    const updated = await cli(['agents', 'update', agentId, '--owner', 'team-ci', '--allowed-scopes', 'agent,read', '--expires-at', '2099-01-01T00:00:00Z'])
    expect(updated).toMatchObject({ code: 0, stderr: '' })
    expect(updated.stdout).toMatch(/^owner:\s+team-ci$/m)
    expect(updated.stdout).toMatch(/^allowed scopes:\s+agent,read$/m)
    expect(updated.stdout).toMatch(/^expires:\s+2099-01-01T00:00:00.000Z$/m)
    const cleared = JSON.parse((await cli(['agent', 'update', agentId, '--allowed-scopes', 'none', '--json'])).stdout)
    expect(cleared).toMatchObject({ owner: 'team-ci', allowedScopes: null, expiresAt: '2099-01-01T00:00:00.000Z' })
    expect((await cli(['agents', 'update', agentId])).code).toBe(2)
    expect((await cli(['agents', 'update', agentId, '--expires-at', 'soon'])).code).toBe(1)

    const live = await ops.call('POST', '/api/v1/oidc/token', { body: { provider: 'github', token: await ops.oidcToken(ops.server.url), agentId } })
    expect(live.status).toBe(200)
    const rotated = await cli(['agents', 'rotate', agentId])
    expect(rotated.code).toBe(0)
    expect(rotated.stdout).toMatch(new RegExp(`^rotated agent ${agentId} \\(cli-bot@acme\\.example\\): [1-9][0-9]* live credentials? revoked`))
    expect(JSON.parse((await cli(['token', 'introspect', '--json'], { stdin: `${live.body.access_token}\n` })).stdout)).toMatchObject({ active: false })
    expect((await cli(['agent', 'show', agentId])).stdout).toMatch(/^last rotated:\s+\d{4}-/m)
  })

  it('disables an agent: its next exchange is refused', async () => {
    expect(await cli(['agent', 'disable', agentId])).toMatchObject({ code: 0, stdout: `disabled agent ${agentId} (cli-bot@acme.example)\n` })
    expect((await cli(['agent', 'show', agentId])).stdout).toMatch(/^status:\s+disabled$/m)
    const refused = await ops.call('POST', '/api/v1/oidc/token', {
      body: { provider: 'github', token: await ops.oidcToken(ops.server.url), agentId }
    })
    expect(refused.status).toBe(404)
  })

  it('revokes any credential by its id with `credentials revoke` (bootstrap, agent, workspace); 404 for an unknown one', async () => {
    const url = ops.server.url
    const exchange = async (extra: Record<string, unknown> = {}): Promise<string> => {
      const answer = await ops.call('POST', '/api/v1/oidc/token', { body: { provider: 'github', token: await ops.oidcToken(url), ...extra } })
      expect(answer.status).toBe(200)
      return answer.body.access_token as string
    }
    const jti = async (token: string): Promise<string> => (await ops.admin('POST', '/api/v1/oauth/introspect', { token })).body.jti as string
    const active = async (token: string): Promise<boolean> => (await ops.admin('POST', '/api/v1/oauth/introspect', { token })).body.active as boolean
    expect((await cli(['policy', 'create', '--repository', 'acme/widgets'])).code).toBe(0)

    // A bootstrap credential: revoked, its token can register no agent.
    const bootstrap = await exchange()
    const bootstrapId = await jti(bootstrap)
    const revokedBootstrap = await cli(['credentials', 'revoke', bootstrapId])
    expect(revokedBootstrap).toMatchObject({ code: 0, stderr: '' })
    expect(revokedBootstrap.stdout).toMatch(new RegExp(`^revoked bootstrap credential ${bootstrapId}: tokens it backs stop working at once\n`))
    expect(revokedBootstrap.stdout).toMatch(/^status:\s+revoked$/m)
    expect(revokedBootstrap.stdout).toMatch(/^repository:\s+acme\/widgets$/m)
    expect(await active(bootstrap)).toBe(false)
    expect((await ops.call('POST', '/api/v1/agents', { token: bootstrap, body: { name: 'too-late@acme.example' } })).status).toBe(401)

    // An agent credential, with --json: the credential view as the server answers it.
    const registered = await ops.call('POST', '/api/v1/agents', { token: await exchange(), body: { name: 'revoke-bot@acme.example' } })
    expect(registered.status).toBe(201)
    const revokeAgentId = registered.body.agentId as string
    expect((await cli(['policy', 'create', '--repository', 'acme/widgets', '--agent-id', revokeAgentId])).code).toBe(0)
    const agentCredential = await exchange({ agentId: revokeAgentId })
    const agentCredentialId = await jti(agentCredential)
    const asJson = await cli(['credentials', 'revoke', agentCredentialId, '--json'])
    expect(asJson).toMatchObject({ code: 0, stderr: '' })
    const view = JSON.parse(asJson.stdout)
    expect(Object.keys(view)).toEqual(expect.arrayContaining(['id', 'kind', 'scope', 'status', 'agentId', 'repository', 'createdAt', 'expiresAt', 'lastUsedAt', 'revokedAt']))
    expect(view).toMatchObject({ id: agentCredentialId, kind: 'agent', scope: 'agent', status: 'revoked', agentId: revokeAgentId, repository: 'acme/widgets' })
    expect(Date.parse(view.revokedAt)).toBeGreaterThan(Date.now() - 60_000)
    expect(await active(agentCredential)).toBe(false)
    expect((await cli(['agent', 'show', revokeAgentId])).stdout).toMatch(new RegExp(`^${agentCredentialId}\\s+agent\\s+revoked`, 'm'))

    // A workspace credential (Protocol B): its token no longer opens the workspace.
    const federated = await ops.call('POST', '/v1/identity/federate', { token: await ops.oidcToken('persql') })
    expect(federated.status).toBe(201)
    const workspace = federated.body.data as { token: string; url: string }
    const path = new URL(workspace.url).pathname
    expect((await ops.call('GET', path, { token: workspace.token })).status).toBe(200)
    const events = (await ops.admin('GET', '/api/v1/audit')).body.items as Array<{ action: string; credentialId: string | null }>
    const workspaceId = events.find((e) => e.action === 'workspace.federate' && e.credentialId)!.credentialId!
    const revokedWorkspace = await cli(['credentials', 'revoke', workspaceId])
    expect(revokedWorkspace.code).toBe(0)
    expect(revokedWorkspace.stdout).toMatch(new RegExp(`^revoked workspace credential ${workspaceId}: `))
    expect(revokedWorkspace.stdout).toMatch(/^workspace:\s+[0-9a-f-]{36}$/m)
    expect((await ops.call('GET', path, { token: workspace.token })).status).toBe(401)

    // Unknown: the server's 404, exit code 1; not a UUID: a usage error, nothing sent.
    const unknown = await cli(['credentials', 'revoke', '00000000-0000-4000-8000-000000000000'])
    expect(unknown).toMatchObject({ code: 1, stdout: '' })
    expect(unknown.stderr).toMatch(/^federate-admin: .*00000000-0000-4000-8000-000000000000.* \(404 not_found\)\n$/)
    expect(await cli(['credentials', 'revoke', 'not-a-uuid'])).toMatchObject({ code: 2, stderr: 'federate-admin: CREDENTIAL_ID must be a UUID, got "not-a-uuid"\n' })
  })

  it('rotates the signing key and lists the keys', async () => {
    const before = JSON.parse((await cli(['keys', 'list', '--json'])).stdout)
    const rotated = await cli(['keys', 'rotate'])
    expect(rotated.code).toBe(0)
    const [, kid, signsFrom] = /^new signing key (\S+): in the JWKS now, signs new tokens from (\S+);/.exec(rotated.stdout)!
    expect(Date.parse(signsFrom!)).toBeGreaterThan(Date.now())
    const listed = await cli(['keys', 'list'])
    // Published now, signing after the activation delay; the old key signs until then.
    expect(listed.stdout).toMatch(new RegExp(`^${kid}\\s+ES256\\s+no\\s+${signsFrom}\\s+-$`, 'm'))
    expect(listed.stdout).toMatch(new RegExp(`^${before[0].kid}\\s+ES256\\s+yes\\s+\\S+\\s+\\d{4}-`, 'm'))
    const jwks = (await ops.call('GET', '/.well-known/jwks.json')).body.keys.map((k: { kid: string }) => k.kid)
    expect(jwks).toEqual([kid, before[0].kid])
  })

  it('emergency rotation: `keys rotate --emergency` takes the old keys out of the JWKS at once, and their tokens stop working', async () => {
    const url = ops.server.url
    expect((await cli(['policy', 'create', '--repository', 'acme/widgets'])).code).toBe(0)
    const oldToken = (await ops.call('POST', '/api/v1/oidc/token', { body: { provider: 'github', token: await ops.oidcToken(url) } })).body.access_token as string
    expect((await ops.admin('POST', '/api/v1/oauth/introspect', { token: oldToken })).body.active).toBe(true)
    const before = (await ops.call('GET', '/.well-known/jwks.json')).body.keys.map((k: { kid: string }) => k.kid) as string[]
    expect(before.length).toBeGreaterThanOrEqual(1)

    // No confirmation asked (stdin is not a terminal here): it runs and says what happened.
    const rotated = await cli(['keys', 'rotate', '--emergency'])
    expect(rotated).toMatchObject({ code: 0, stderr: '' })
    const [, kid] = /^emergency rotation: new signing key (\S+) signs every new token now; the previous keys left the JWKS and every token they signed no longer works/.exec(
      rotated.stdout
    )!
    expect(before).not.toContain(kid)

    const jwks = (await ops.call('GET', '/.well-known/jwks.json')).body.keys.map((k: { kid: string }) => k.kid)
    expect(jwks).toEqual([kid])
    expect((await cli(['keys', 'list'])).stdout).toMatch(new RegExp(`^${kid}\\s+ES256\\s+yes\\s`, 'm'))
    expect((await ops.admin('POST', '/api/v1/oauth/introspect', { token: oldToken })).body.active).toBe(false)
    expect((await ops.call('POST', '/api/v1/agents', { token: oldToken, body: { name: 'after-emergency@acme.example' } })).status).toBe(401)

    // A fresh exchange works at once, signed by the new key.
    const fresh = await ops.call('POST', '/api/v1/oidc/token', { body: { provider: 'github', token: await ops.oidcToken(url) } })
    expect(fresh.status).toBe(200)
    const header = JSON.parse(Buffer.from((fresh.body.access_token as string).split('.')[0]!, 'base64url').toString('utf8'))
    expect(header.kid).toBe(kid)
    expect((await ops.admin('POST', '/api/v1/oauth/introspect', { token: fresh.body.access_token })).body.active).toBe(true)

    // --json: the server's answer as is.
    const again = await cli(['keys', 'rotate', '--emergency', '--json'])
    expect(again.code).toBe(0)
    expect(JSON.parse(again.stdout).kid).not.toBe(kid)
    expect((await cli(['keys', 'list', '--emergency'])).stderr).toBe('federate-admin: unknown option --emergency\n')
  })

  it('exit code 2 with the usage for a bad command line or missing environment', async () => {
    const none = await cli([])
    expect(none.code).toBe(2)
    expect(none.stderr).toContain('usage: federate-admin')
    expect(await cli(['--help'])).toMatchObject({ code: 0 })
    expect((await cli(['agent', 'explode', 'x'])).stderr).toBe('federate-admin: unknown command "agent explode"; see federate-admin --help\n')
    expect((await cli(['agent', 'show', 'not-a-uuid'])).code).toBe(2)
    expect((await cli(['policy', 'list', '--colour', 'red'])).stderr).toBe('federate-admin: unknown option --colour\n')
    const noUrl = await cli(['policy', 'list'], { env: { FEDERATE_URL: undefined } })
    expect(noUrl).toMatchObject({ code: 2, stderr: 'federate-admin: set FEDERATE_URL to the server, e.g. FEDERATE_URL=https://idp.example.com\n' })
    const noToken = await cli(['policy', 'list'], { env: { FEDERATE_ADMIN_TOKEN: undefined } })
    expect(noToken).toMatchObject({ code: 2, stderr: "federate-admin: set FEDERATE_ADMIN_TOKEN to the server's ADMIN_TOKEN\n" })
  })

  it('exit code 1 when the server says no (unknown agent)', async () => {
    const result = await cli(['agent', 'show', '00000000-0000-4000-8000-000000000000'])
    expect(result).toMatchObject({ code: 1, stdout: '', stderr: 'federate-admin: no agent 00000000-0000-4000-8000-000000000000 (404 agent_not_found)\n' })
  })

  it('exit code 4 and a clear message for a wrong admin token', async () => {
    const result = await cli(['policy', 'list'], { env: { FEDERATE_ADMIN_TOKEN: 'wrong-admin-token-0123456789' } })
    expect(result.code).toBe(4)
    expect(result.stderr).toBe(
      `federate-admin: the server at ${ops.server.url} refused the admin token (401 invalid_token); set FEDERATE_ADMIN_TOKEN to the server's ADMIN_TOKEN\n`
    )
    expect(result.stderr).not.toContain('wrong-admin-token')
  })

  it('exit code 3 and a clear message when nothing listens, or something else answers', async () => {
    const port = await freePort() // nothing listens there
    const unreachable = await cli(['policy', 'list'], { env: { FEDERATE_URL: `http://127.0.0.1:${port}` } })
    expect(unreachable).toMatchObject({
      code: 3,
      stderr: `federate-admin: cannot reach the federate server at http://127.0.0.1:${port} (ECONNREFUSED); check FEDERATE_URL and that the server is running\n`
    })

    const html: Server = createServer((_req, res) => res.writeHead(200, { 'content-type': 'text/html' }).end('<html>login</html>'))
    const { url } = await listenLocal(html)
    try {
      const wrong = await cli(['policy', 'list'], { env: { FEDERATE_URL: url } })
      expect(wrong.code).toBe(3)
      expect(wrong.stderr).toBe(`federate-admin: ${url} answered GET /api/v1/oidc/trust-policies with HTTP 200 (text/html), not the federate admin API; check FEDERATE_URL\n`)
    } finally {
      await new Promise((r) => html.close(r))
    }
  })

  it('runs as `npm run admin --` and as `npx federate-admin`', async () => {
    for (const entry of ['npm', 'npx'] as const) {
      const result = await cli(['policy', 'list', '--json'], { entry })
      expect(result.code).toBe(0)
      expect(Array.isArray(JSON.parse(result.stdout))).toBe(true)
    }
  })

  it('lists, shows, disables and enables workspaces: a disabled one refuses its token and federate, an enabled one works again', async () => {
    const identity = { repository: 'acme/cli-workspace', repositoryId: '5550001', ownerId: '4242' }
    const federated = await ops.call('POST', '/v1/identity/federate', { token: await ops.oidcToken('persql', identity) })
    expect(federated.status).toBe(201)
    const workspace = federated.body.data as { token: string; url: string; namespace: string }
    const { namespace } = workspace
    const path = new URL(workspace.url).pathname

    const listed = await cli(['workspaces', 'list'])
    expect(listed).toMatchObject({ code: 0, stderr: '' })
    expect(listed.stdout.split('\n')[0]).toMatch(/^NAMESPACE\s+IDENTITY\s+STATUS\s+STATEMENTS\s+ROWS READ\s+ROWS WRITTEN\s+BYTES\s+CREATED\s+LAST USED$/)
    expect(listed.stdout).toMatch(new RegExp(`^${namespace}\\s+acme/cli-workspace\\s+active\\s+0\\s+0\\s+0\\s`, 'm'))
    const limited = JSON.parse((await cli(['workspaces', 'list', '--limit', '1', '--json'])).stdout)
    expect(limited).toHaveLength(1)
    expect(limited[0]).toMatchObject({ namespace, identity: 'acme/cli-workspace', disabled: false })

    const shown = await cli(['workspaces', 'show', namespace])
    expect(shown.code).toBe(0)
    expect(shown.stdout).toMatch(new RegExp(`^namespace:\\s+${namespace}$`, 'm'))
    expect(shown.stdout).toMatch(/^identity:\s+acme\/cli-workspace$/m)
    expect(shown.stdout).toMatch(/^status:\s+active$/m)
    expect(shown.stdout).toMatch(/^max bytes:\s+\d+$/m)
    expect(shown.stdout).not.toMatch(/w_[0-9a-f]{8}/)

    expect(await cli(['workspaces', 'disable', namespace])).toMatchObject({
      code: 0,
      stdout: `disabled workspace ${namespace} (acme/cli-workspace): its tokens and federate answer 403 workspace_disabled; its data is kept\n`
    })
    expect((await cli(['workspaces', 'show', namespace])).stdout).toMatch(/^status:\s+disabled$/m)
    expect((await ops.call('GET', path, { token: workspace.token })).body).toMatchObject({ code: 'workspace_disabled' })
    const refused = await ops.call('POST', '/v1/identity/federate', { token: await ops.oidcToken('persql', identity) })
    expect(refused.status).toBe(403)
    expect(refused.body.code).toBe('workspace_disabled')

    const enabled = await cli(['workspaces', 'enable', namespace, '--json'])
    expect(enabled.code).toBe(0)
    expect(JSON.parse(enabled.stdout)).toMatchObject({ namespace, disabled: false, disabledAt: null })
    expect((await ops.call('GET', path, { token: workspace.token })).status).toBe(200)
    expect((await ops.call('POST', '/v1/identity/federate', { token: await ops.oidcToken('persql', identity) })).status).toBe(200)

    const actions = (await cli(['audit', 'tail', '--limit', '50', '--json'])).stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { action: string; repository: string })
      .filter((e) => e.repository === 'acme/cli-workspace' && e.action !== 'workspace.federate')
      .map((e) => e.action)
    expect(actions).toEqual(['workspace.disable', 'workspace.enable'])

    const unknown = await cli(['workspaces', 'show', 'no-such-workspace'])
    expect(unknown).toMatchObject({ code: 1, stdout: '', stderr: 'federate-admin: no workspace no-such-workspace (404 not_found)\n' })
    expect(await cli(['workspaces', 'disable', 'Bad_Name'])).toMatchObject({
      code: 2,
      stderr: 'federate-admin: NAMESPACE must be lowercase letters, digits and dashes, got "Bad_Name"\n'
    })
    expect(await cli(['workspaces', 'enable'])).toMatchObject({ code: 2, stderr: 'federate-admin: missing NAMESPACE\n' })
    for (const limit of ['0', '1001', 'ten']) {
      expect(await cli(['workspaces', 'list', '--limit', limit])).toMatchObject({
        code: 2,
        stderr: `federate-admin: --limit must be a whole number from 1 to 1000, got "${limit}"\n`
      })
    }
    expect((await cli(['--help'])).stdout).toContain('workspaces disable NAMESPACE')
  })

  it('never printed the admin token, nor any token it was given', () => {
    expect(outputs.length).toBeGreaterThan(20)
    for (const { stdout, stderr } of outputs) {
      expect(stdout + stderr).not.toContain(ops.server.adminToken)
      expect(stdout + stderr).not.toContain(agentToken)
    }
  })
})

describe('keys rotate --emergency against a server that ignores it', () => {
  it('says the rotation was a plain one, exit code 1, rather than claim the old tokens are dead', async () => {
    // What a server predating emergency rotation answers: a key that signs only later.
    const plain = { kid: 'k2', alg: 'ES256', signing: false, signsFrom: '2030-01-01T00:00:15.000Z', retiresAt: null }
    const bodies: unknown[] = []
    let stdout = ''
    let stderr = ''
    const code = await run(['keys', 'rotate', '--emergency'], {
      env: { FEDERATE_URL: 'http://127.0.0.1:9', FEDERATE_ADMIN_TOKEN: 'emergency-test-admin-token' },
      stdout: (t) => (stdout += t),
      stderr: (t) => (stderr += t),
      readStdin: async () => '',
      fetch: async (_url, init) => {
        bodies.push(JSON.parse(init.body as string))
        return new Response(JSON.stringify(plain), { status: 201, headers: { 'content-type': 'application/json' } })
      }
    })
    expect(bodies).toEqual([{ emergency: true }])
    expect({ code, stdout }).toEqual({ code: 1, stdout: '' })
    expect(stderr).toBe(
      'federate-admin: the server did a plain rotation, not an emergency one (it may predate --emergency): new key k2 signs from 2030-01-01T00:00:15.000Z and the previous keys stay in the JWKS until their tokens expire; upgrade the server\n'
    )
  })
})

describe('workspaces commands and hostile server data', () => {
  it('escapes terminal controls in what the server answers (table and --json)', async () => {
    const hostile = {
      namespace: 'evil-1',
      database: 'main',
      identity: 'evil/\u001b]52;c;cm0gLXJmIH4=\u0007repo\u202e',
      issuer: 'https://issuer.example\u001b[2J',
      createdAt: '2030-01-01T00:00:00.000Z',
      lastUsedAt: null,
      disabled: false,
      disabledAt: null,
      usage: { statements: 1, rowsRead: 2, rowsWritten: 3, bytes: 4 },
      limits: { statementTimeoutMs: 5000, maxRows: 10000, maxResultBytes: 4194304, maxBytes: 104857600 }
    }
    const runWith = async (argv: string[], answer: unknown) => {
      let stdout = ''
      let stderr = ''
      const code = await run(argv, {
        env: { FEDERATE_URL: 'http://127.0.0.1:9', FEDERATE_ADMIN_TOKEN: 'workspaces-test-admin-token' },
        stdout: (t) => (stdout += t),
        stderr: (t) => (stderr += t),
        readStdin: async () => '',
        fetch: async () => new Response(JSON.stringify(answer), { status: 200, headers: { 'content-type': 'application/json' } })
      })
      return { code, stdout, stderr }
    }
    for (const argv of [
      ['workspaces', 'list'],
      ['workspaces', 'list', '--json'],
      ['workspaces', 'show', 'evil-1'],
      ['workspaces', 'disable', 'evil-1']
    ]) {
      const answer = argv[1] === 'list' ? { items: [hostile] } : hostile
      const { code, stdout, stderr } = await runWith(argv, answer)
      expect({ argv, code, stderr }).toEqual({ argv, code: 0, stderr: '' })
      // eslint-disable-next-line no-control-regex -- proving none got through
      expect(stdout).not.toMatch(/[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u202e]/)
      expect(stdout).toContain('\\u001b')
    }
  })
})
