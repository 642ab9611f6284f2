/**
 * Ops tests' fixture (not a test file): a LocalOidcIssuer, a real server process, the CLI
 * run as a real process, and a recorder of every secret a flow was handed (so a test can
 * prove none of them reached a log or the CLI's output).
 */
import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { LocalOidcIssuer, githubClaims, type RepoIdentity } from '../../shared/testing/oidc-issuer'
import { startServerProcess, type ServerProcess } from '../../shared/testing/server-process'

export const REPO_ROOT = fileURLToPath(new URL('../..', import.meta.url))
export const ACME: RepoIdentity = { repository: 'acme/widgets', repositoryId: '123456789', ownerId: '4242' }

export interface Answer {
  status: number
  headers: Headers
  body: any // eslint-disable-line @typescript-eslint/no-explicit-any
  text: string
}

export interface Ops {
  issuer: LocalOidcIssuer
  server: ServerProcess
  /** Every secret handed out or used so far: OIDC tokens, access and workspace tokens, the admin token. */
  secrets: Set<string>
  /** Every (method, route, status, body) answered so far, for the OpenAPI validation. */
  answers: Array<{ method: string; route: string; answer: Answer }>
  call(method: string, path: string, options?: { token?: string; body?: unknown; route?: string }): Promise<Answer>
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
    const headers: Record<string, string> = {}
    if (options.token !== undefined) headers.authorization = `Bearer ${options.token}`
    if (options.body !== undefined) headers['content-type'] = 'application/json'
    const res = await fetch(`${server.url}${path}`, {
      method,
      headers,
      body: options.body === undefined ? undefined : JSON.stringify(options.body)
    })
    const text = await res.text()
    let body: unknown
    try {
      body = text ? JSON.parse(text) : undefined
    } catch {
      body = undefined
    }
    const answer = { status: res.status, headers: res.headers, body, text }
    record(body)
    answers.push({ method, route: options.route ?? path, answer })
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

/** Runs the admin CLI as its own process (node + tsx), the way `npm run admin --` does. */
export function runCli(
  args: string[],
  env: Record<string, string | undefined>,
  options: { stdin?: string; entry?: 'node' | 'npm' | 'npx' } = {}
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
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')))
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')))
    child.once('error', reject)
    child.once('close', (code) => resolve({ code, stdout, stderr: stderr.replace(/^npm warn .*\n/gm, '') }))
    child.stdin.end(options.stdin ?? '')
  })
}
