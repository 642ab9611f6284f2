/**
 * Starts the reference server as a child process (the way an operator runs it) for
 * end-to-end and restart tests: PORT=0 on 127.0.0.1, a temporary DATA_DIR unless given,
 * a random ADMIN_TOKEN it hands back. Waits for the printed URL and /healthz.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { waitFor } from './wait-for'

export interface ServerProcessOptions {
  /** Trusted OIDC issuer (the LocalOidcIssuer's url). */
  issuerUrl: string
  /** Extra or overriding environment variables. */
  env?: Record<string, string | undefined>
  /** Reuse a data directory (restart tests); default a fresh temporary one, removed by stop(). */
  dataDir?: string
  /** How long to wait for the server to be ready; default 90 s. */
  startTimeoutMs?: number
}

export interface ServerProcess {
  url: string
  adminToken: string
  pid: number
  dataDir: string
  /** SIGTERM and wait for the exit (SIGKILL after 10 s). */
  stop(): Promise<void>
  kill(signal?: NodeJS.Signals): void
  /** Everything the server printed so far (stdout and stderr). */
  output(): string
  /** Resolves with the exit code once the process has exited. */
  exited: Promise<number | null>
}

const REPO_ROOT = fileURLToPath(new URL('../..', import.meta.url))
const live = new Set<ChildProcess>()
let exitHookInstalled = false

function installExitHook(): void {
  if (exitHookInstalled) return
  exitHookInstalled = true
  process.once('exit', () => {
    for (const child of live) child.kill('SIGKILL')
  })
}

export async function startServerProcess(options: ServerProcessOptions): Promise<ServerProcess> {
  installExitHook()
  const ownDataDir = options.dataDir === undefined
  const dataDir = options.dataDir ?? mkdtempSync(join(tmpdir(), 'federate-server-'))
  const adminToken = options.env?.ADMIN_TOKEN ?? randomBytes(24).toString('base64url')
  const env: Record<string, string> = {}
  for (const [key, value] of Object.entries({
    ...process.env,
    NODE_OPTIONS: undefined, // jest's --experimental-vm-modules is not for the child
    PORT: '0',
    HOST: '127.0.0.1',
    OIDC_ISSUERS: options.issuerUrl,
    DATA_DIR: dataDir,
    LOG_LEVEL: 'warn',
    ...options.env,
    ADMIN_TOKEN: adminToken
  })) {
    if (value !== undefined) env[key] = value
  }

  const child = spawn(process.execPath, ['--import', 'tsx', 'shared/server/main.ts'], {
    cwd: REPO_ROOT,
    env,
    stdio: ['ignore', 'pipe', 'pipe']
  })
  live.add(child)
  let output = ''
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')))
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')))
  const exited = new Promise<number | null>((resolve) =>
    child.once('exit', (code) => {
      live.delete(child)
      resolve(code)
    })
  )

  const stop = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM')
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000)
      await exited
      clearTimeout(timer)
    }
    if (ownDataDir) rmSync(dataDir, { recursive: true, force: true })
  }

  try {
    const url = await waitForUrl(() => output, exited, options.startTimeoutMs ?? 90_000)
    await waitHealthy(url, options.startTimeoutMs ?? 90_000)
    return {
      url,
      adminToken,
      pid: child.pid!,
      dataDir,
      stop,
      kill: (signal = 'SIGKILL') => void child.kill(signal),
      output: () => output,
      exited
    }
  } catch (error) {
    await stop()
    throw new Error(`${(error as Error).message}\n--- server output ---\n${output}`, { cause: error })
  }
}

async function waitForUrl(output: () => string, exited: Promise<number | null>, timeoutMs: number): Promise<string> {
  let exitCode: number | null | undefined
  void exited.then((code) => (exitCode = code))
  const match = await waitFor(
    () => {
      const found = /federate server listening on (http:\/\/\S+)/.exec(output())
      if (!found && exitCode !== undefined) throw new Error(`server exited with code ${exitCode} before listening`)
      return found
    },
    { timeoutMs, intervalMs: 50, what: 'the server to print its URL' }
  )
  return match[1]!
}

/** Waits until `url`/healthz answers 2xx (connection refused meanwhile is "not yet"). */
export async function waitHealthy(url: string, timeoutMs: number): Promise<void> {
  const healthy = (): Promise<boolean> =>
    fetch(`${url}/healthz`).then(
      (res) => res.ok,
      () => false
    )
  await waitFor(healthy, { timeoutMs, intervalMs: 50, what: `${url} to become healthy` })
}
