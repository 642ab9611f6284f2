/**
 * Ops tests' fixture (not a test file): a LocalOidcIssuer, a real server process, the CLI
 * run as a real process, and a recorder of every secret a flow was handed (so a test can
 * prove none of them reached a log or the CLI's output).
 */
import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { LocalOidcIssuer, githubClaims, type RepoIdentity } from '../../shared/testing/oidc-issuer'
import { startServerProcess, type ServerProcess } from '../../shared/testing/server-process'
import { call as callServer, type ApiResponse, type CallOptions as BaseCallOptions } from '../../shared/testing/api-call'

export const REPO_ROOT = fileURLToPath(new URL('../..', import.meta.url))
export const ACME: RepoIdentity = { repository: 'acme/widgets', repositoryId: '123456789', ownerId: '4242' }

export type Answer = ApiResponse

export interface CallOptions extends Omit<BaseCallOptions, 'raw'> {
  /** Sent as is, with `contentType` (default application/json). */
  raw?: string
  contentType?: string
  /** The route template the answer is validated against (default: the path). */
  route?: string
}

export interface Ops {
  issuer: LocalOidcIssuer
  server: ServerProcess
  /** Every secret handed out or used so far: OIDC tokens, access and workspace tokens, the admin token. */
  secrets: Set<string>
  /** Every (method, route, status, body) answered so far, for the OpenAPI validation. */
  answers: Array<{ method: string; route: string; answer: Answer }>
  call(method: string, path: string, options?: CallOptions): Promise<Answer>
  admin(method: string, path: string, body?: unknown, route?: string): Promise<Answer>
  oidcToken(audience: string, identity?: RepoIdentity): Promise<string>
  close(): Promise<void>
}

export async function startOps(env: Record<string, string> = {}): Promise<Ops> {
  const issuer = await LocalOidcIssuer.start()
  const server = await startServerProcess({ issuerUrl: issuer.url, env })
  const secrets = new Set<string>([server.adminToken])
  const answers: Ops['answers'] = []

  const record = (value: unknown): void => {
    // Any token-shaped field in an answer is a secret the logs must never show.
    if (value && typeof value === 'object') {
      for (const [key, inner] of Object.entries(value)) {
        if ((key === 'access_token' || key === 'token') && typeof inner === 'string') secrets.add(inner)
        else record(inner)
      }
    }
  }

  const call: Ops['call'] = async (method, path, options = {}) => {
    const { contentType, route, ...rest } = options
    const headers = rest.raw === undefined ? rest.headers : { 'content-type': contentType ?? 'application/json', ...rest.headers }
    const answer = await callServer(server.url, method, path, { ...rest, headers })
    record(answer.body)
    answers.push({ method, route: route ?? path, answer })
    return answer
  }

  return {
    issuer,
    server,
    secrets,
    answers,
    call,
    admin: (method, path, body, route) => call(method, path, { token: server.adminToken, body, route }),
    async oidcToken(audience, identity = ACME) {
      const token = await issuer.mint({ audience, claims: githubClaims(identity) })
      secrets.add(token)
      return token
    },
    async close() {
      await server.stop()
      await issuer.close()
    }
  }
}

export interface CliResult {
  code: number | null
  stdout: string
  stderr: string
}

/**
 * Runs the admin CLI as its own process (node + tsx), the way `npm run admin --` does.
 * `onStdout` sees its standard output so far, as it comes (to wait for a line of a command that is still running).
 */
export function runCli(
  args: string[],
  env: Record<string, string | undefined>,
  options: { stdin?: string; entry?: 'node' | 'npm' | 'npx'; onStdout?: (stdout: string) => void } = {}
): Promise<CliResult> {
  const childEnv: Record<string, string> = {}
  for (const [key, value] of Object.entries({ ...process.env, NODE_OPTIONS: undefined, ...env })) {
    if (value !== undefined) childEnv[key] = value
  }
  const [command, argv] =
    options.entry === 'npm'
      ? ['npm', ['run', '--silent', 'admin', '--', ...args]]
      : options.entry === 'npx'
        ? ['npx', ['--no-install', 'federate-admin', ...args]]
        : [process.execPath, ['--import', 'tsx', 'shared/admin-cli/main.ts', ...args]]
  return new Promise((resolve, reject) => {
    const child = spawn(command, argv, { cwd: REPO_ROOT, env: childEnv, stdio: ['pipe', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString('utf8')
      options.onStdout?.(stdout)
    })
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')))
    child.once('error', reject)
    child.once('close', (code) => resolve({ code, stdout, stderr: stderr.replace(/^npm warn .*\n/gm, '') }))
    child.stdin.end(options.stdin ?? '')
  })
}

const EVIL: RepoIdentity = { repository: 'acme/widgets-evil', repositoryId: '999', ownerId: '4242' }

/**
 * Every endpoint once, answers good and bad, as the integration suite and the actions use
 * them: trust policies, explain, exchange, register (new, again, idempotent, conflict),
 * agent administration, introspection, revocation, the RFC 8414/8693 surface and
 * introspection clients, federate, the workspace and its SQL,
 * workspace administration, keys, meta.
 */
export async function fullFlow(ops: Ops): Promise<void> {
  const url = ops.server.url
  const must = (answer: Answer, status: number): Answer => {
    if (answer.status !== status) throw new Error(`expected ${status}, got ${answer.status}: ${answer.text.slice(0, 300)}`)
    return answer
  }
  must(await ops.call('GET', '/healthz'), 200)
  must(await ops.call('GET', '/.well-known/jwks.json'), 200)
  must(await ops.call('GET', '/openapi.json'), 200)

  const bootstrapPolicy = must(await ops.admin('POST', '/api/v1/oidc/trust-policies', { provider: 'github', repository: 'acme/widgets', branch: 'main' }), 201).body
  must(await ops.admin('GET', '/api/v1/oidc/trust-policies'), 200)
  must(await ops.call('GET', '/api/v1/oidc/trust-policies', { token: 'not-the-admin-token-0000' }), 401)
  must(await ops.admin('POST', '/api/v1/oidc/trust-policies', { provider: 'github', repository: 'no slash' }), 400)

  const exchange = async (identity: RepoIdentity, extra: Record<string, unknown> = {}): Promise<Answer> =>
    ops.call('POST', '/api/v1/oidc/token', { body: { provider: 'github', token: await ops.oidcToken(url, identity), ...extra } })
  must(await ops.call('POST', '/api/v1/oidc/explain', { body: { provider: 'github', token: await ops.oidcToken(url) } }), 200)
  must(await ops.call('POST', '/api/v1/oidc/explain', { body: { provider: 'github', token: await ops.oidcToken(url, EVIL) } }), 200)
  must(await exchange(EVIL), 403)
  must(await exchange({ ...ACME, ref: 'refs/heads/dev' }), 403)
  must(await ops.call('POST', '/api/v1/oidc/token', { body: { provider: 'gitlab', token: 'a.b.c' } }), 400)
  must(await ops.call('POST', '/api/v1/oidc/token', { body: { provider: 'github', token: await ops.oidcToken('https://wrong.example') } }), 401)
  must(await exchange(ACME, { agentId: '00000000-0000-4000-8000-000000000000' }), 404)

  const bootstrap = must(await exchange(ACME), 200).body.access_token as string
  const register = (name: string, token = bootstrap): Promise<Answer> => ops.call('POST', '/api/v1/agents', { token, body: { name, description: 'flow' } })
  const agent = must(await register('flow-bot@acme.example'), 201).body
  must(await register('flow-bot@acme.example'), 200)
  must(await ops.call('POST', '/api/v1/agents', { body: { name: 'x@acme.example' } }), 401)
  // Idempotency-Key: a replay answers the first response; another body with the key is a 422.
  const keyed = (name: string): Promise<Answer> => ops.call('POST', '/api/v1/agents', { token: bootstrap, headers: { 'idempotency-key': 'flow-key-1' }, body: { name } })
  must(await keyed('keyed@acme.example'), 201)
  must(await keyed('keyed@acme.example'), 201)
  must(await keyed('other-keyed@acme.example'), 422)
  // Malformed requests: 400, 413, 415, never a 5xx.
  must(await ops.call('POST', '/api/v1/oidc/token', { raw: '{"provider": "github", ' }), 400)
  must(await ops.call('POST', '/api/v1/oidc/token', { raw: JSON.stringify({ provider: 'github', token: 'x'.repeat(70_000) }) }), 413)
  must(await ops.call('POST', '/api/v1/oidc/token', { raw: '<provider>github</provider>', contentType: 'application/xml' }), 415)
  must(await ops.call('POST', '/api/v1/oidc/token', { body: { provider: 'github', token: 'a.b.c', extra: 1 } }), 400)
  must(await ops.call('GET', '/api/v1/nothing-here'), 404)

  must(await ops.admin('POST', '/api/v1/oidc/trust-policies', { provider: 'github', repository: 'acme/widgets', agentId: agent.agentId }), 201)
  const agentToken = must(await exchange(ACME, { agentId: agent.agentId, ttl: 300 }), 200).body.access_token as string
  must(await register('other@acme.example', agentToken), 403)
  const introspected = must(await ops.admin('POST', '/api/v1/oauth/introspect', { token: agentToken }), 200).body
  must(await ops.admin('POST', '/api/v1/oauth/introspect', { token: 'garbage' }), 200)
  must(await ops.admin('GET', `/api/v1/agents/${agent.agentId}`), 200)
  must(await ops.admin('GET', `/api/v1/agents/${agent.agentId}/credentials`), 200)
  must(await ops.admin('GET', `/api/v1/agents/${agent.agentId}/audit`), 200)
  must(await ops.admin('GET', '/api/v1/agents/00000000-0000-4000-8000-000000000000'), 404)
  must(await ops.admin('GET', '/api/v1/agents/not-a-uuid'), 400)
  must(await ops.admin('GET', '/api/v1/audit'), 200)
  must(await ops.admin('POST', `/api/v1/agents/${agent.agentId}/credentials/${introspected.jti}/revoke`), 200)
  must(await ops.call('POST', '/api/v1/oauth/revoke', { body: { token: bootstrap } }), 200)

  // The standard OAuth surface: metadata, the RFC 8693 token endpoint, an introspection client with HTTP Basic.
  must(await ops.call('GET', '/.well-known/oauth-authorization-server'), 200)
  const tokenForm = (params: Record<string, string>): Promise<Answer> =>
    ops.call('POST', '/api/v1/oauth/token', { raw: new URLSearchParams(params).toString(), contentType: 'application/x-www-form-urlencoded' })
  const exchangeGrant = { grant_type: 'urn:ietf:params:oauth:grant-type:token-exchange', subject_token_type: 'urn:ietf:params:oauth:token-type:id_token' }
  const standard = must(await tokenForm({ ...exchangeGrant, subject_token: await ops.oidcToken(url) }), 200).body.access_token as string
  must(await tokenForm({ ...exchangeGrant, subject_token: await ops.oidcToken(url, EVIL) }), 400)
  must(await tokenForm({ grant_type: 'client_credentials' }), 400)
  must(await ops.call('POST', '/api/v1/oauth/token', { body: exchangeGrant }), 415)
  const introspectionClient = must(await ops.admin('POST', '/api/v1/clients', { name: 'flow resource server' }), 201).body
  ops.secrets.add(introspectionClient.client_secret)
  must(await ops.admin('GET', '/api/v1/clients'), 200)
  const clientBasic = { authorization: `Basic ${Buffer.from(`${introspectionClient.client_id}:${introspectionClient.client_secret}`).toString('base64')}` }
  must(await ops.call('POST', '/api/v1/oauth/introspect', { body: { token: standard }, headers: clientBasic }), 200)
  must(await ops.call('GET', '/api/v1/clients', { headers: clientBasic }), 401)
  must(await ops.admin('DELETE', `/api/v1/clients/${introspectionClient.client_id}`), 204)
  must(await ops.admin('DELETE', `/api/v1/clients/${introspectionClient.client_id}`), 404)
  must(await ops.call('POST', '/api/v1/oauth/introspect', { body: { token: standard }, headers: clientBasic }), 401)

  // The same agent name from another repository.
  must(await ops.admin('POST', '/api/v1/oidc/trust-policies', { provider: 'github', repository: 'other/gadgets' }), 201)
  const other = must(await exchange({ repository: 'other/gadgets', repositoryId: '987654321', ownerId: '5151' }), 200).body.access_token as string
  must(await register('flow-bot@acme.example', other), 409)

  // Protocol B.
  const federate = async (identity: RepoIdentity = ACME, audience = 'persql'): Promise<Answer> =>
    ops.call('POST', '/v1/identity/federate', { token: await ops.oidcToken(audience, identity) })
  const first = must(await federate(), 201).body.data
  must(await federate(), 200)
  must(await federate(ACME, url), 401)
  must(await federate({ ...ACME, eventName: 'pull_request_target' }), 403)
  const path = new URL(first.url).pathname
  must(await ops.call('GET', path, { token: first.token }), 200)
  const otherWorkspace = must(await federate({ repository: 'other/gadgets', repositoryId: '987654321', ownerId: '5151' }), 201).body.data
  must(await ops.call('GET', path, { token: otherWorkspace.token }), 403)
  must(await ops.call('GET', path, { token: 'fws_not-a-real-token' }), 401)
  // The workspace's SQL, and the admin's view of workspaces: disabled, its token and federate are refused.
  must(await ops.call('POST', `${path}/query`, { token: first.token, body: { sql: 'SELECT 1 AS one' } }), 200)
  must(await ops.call('POST', `${path}/query`, { token: first.token, body: { sql: 'SELECT nope' } }), 400)
  const statements = [{ sql: 'CREATE TABLE flow (n int)' }, { sql: 'INSERT INTO flow VALUES ($1)', params: [1] }]
  must(await ops.call('POST', `${path}/batch`, { token: first.token, body: { statements, transaction: true } }), 200)
  must(await ops.call('GET', `${path}/tables`, { token: first.token }), 200)
  must(await ops.admin('GET', '/api/v1/workspaces?limit=10'), 200)
  must(await ops.admin('GET', '/api/v1/workspaces?limit=0'), 400)
  must(await ops.admin('GET', `/api/v1/workspaces/${first.namespace}`), 200)
  must(await ops.admin('GET', '/api/v1/workspaces/no-such-workspace'), 404)
  must(await ops.admin('POST', `/api/v1/workspaces/${first.namespace}/disable`), 200)
  must(await ops.call('GET', `${path}/tables`, { token: first.token }), 403)
  must(await federate(), 403)
  must(await ops.admin('POST', `/api/v1/workspaces/${first.namespace}/enable`), 200)
  must(await ops.call('POST', '/api/v1/oauth/revoke', { body: { token: first.token } }), 200)
  must(await ops.call('GET', path, { token: first.token }), 401)
  // The admin ends a workspace credential by its id (introspection's jti).
  const workspaceCredential = must(await ops.admin('POST', '/api/v1/oauth/introspect', { token: otherWorkspace.token }), 200).body.jti as string
  must(await ops.admin('POST', `/api/v1/credentials/${workspaceCredential}/revoke`), 200)
  must(await ops.admin('POST', '/api/v1/credentials/00000000-0000-4000-8000-000000000000/revoke'), 404)

  // Least privilege: the admin changes an agent's fields and rotates its credentials.
  must(await ops.admin('PATCH', `/api/v1/agents/${agent.agentId}`, { owner: 'flow', allowedScopes: ['agent'] }), 200)
  must(await ops.admin('PATCH', `/api/v1/agents/${agent.agentId}`, { expiresAt: 'soon' }), 400)
  must(await ops.admin('PATCH', '/api/v1/agents/00000000-0000-4000-8000-000000000000', { owner: 'nobody' }), 404)
  must(await ops.admin('POST', `/api/v1/agents/${agent.agentId}/credentials/rotate`), 200)
  must(await ops.admin('POST', '/api/v1/agents/00000000-0000-4000-8000-000000000000/credentials/rotate'), 404)
  must(await ops.admin('POST', `/api/v1/agents/${agent.agentId}/disable`), 200)
  must(await ops.admin('GET', '/api/v1/signing-keys'), 200)
  must(await ops.admin('POST', '/api/v1/signing-keys/rotate'), 201)
  must(await ops.admin('DELETE', `/api/v1/oidc/trust-policies/${bootstrapPolicy.id}`), 204)
  must(await ops.admin('DELETE', `/api/v1/oidc/trust-policies/${bootstrapPolicy.id}`), 404)
  must(await ops.call('GET', '/metrics'), 200)
}
