/**
 * Starts a real, throw-away PostgreSQL server for tests and benchmarks: Debian's binaries
 * (installed by .ci/run), a fresh cluster in a temporary directory, listening on 127.0.0.1
 * only, stopped and deleted by `stop()`. When we run as root, the server runs as the
 * `postgres` user (PostgreSQL refuses to run as root).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { existsSync, mkdtempSync, readdirSync, rmSync, chmodSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { freePort } from './ports'
import { WaitTimeoutError, waitFor } from './wait-for'

export interface TestPostgres {
  /** postgres://postgres@127.0.0.1:<port>/postgres */
  url: string
  port: number
  /** Fast shutdown, then removes the cluster directory. */
  stop(): Promise<void>
}

/** Where Debian keeps the server binaries (PG_BIN overrides). */
export function findPostgresBin(): string {
  if (process.env.PG_BIN) return process.env.PG_BIN
  const root = '/usr/lib/postgresql'
  const versions = existsSync(root) ? readdirSync(root).sort((a, b) => Number(b) - Number(a)) : []
  for (const version of versions) {
    const bin = join(root, version, 'bin')
    if (existsSync(join(bin, 'postgres'))) return bin
  }
  throw new Error(
    'PostgreSQL server binaries not found under /usr/lib/postgresql/*/bin. ' + 'Install them with `apt-get install postgresql` (bash .ci/run does) or set PG_BIN.'
  )
}

const asRoot = process.getuid?.() === 0

/** Runs a PostgreSQL binary, as the postgres user when we are root. */
function command(bin: string, args: string[]): [string, string[]] {
  // setpriv execs in place (runuser forks and would not pass our signals on).
  return asRoot ? ['setpriv', ['--reuid=postgres', '--regid=postgres', '--init-groups', bin, ...args]] : [bin, args]
}

/** Starts a fresh cluster and waits until it accepts connections. */
export async function startPostgres(options: { maxConnections?: number } = {}): Promise<TestPostgres> {
  const bin = findPostgresBin()
  const dir = mkdtempSync(join(tmpdir(), 'federate-pg-'))
  const data = join(dir, 'data')
  if (asRoot) {
    chmodSync(dir, 0o777)
    spawnSync('chown', ['postgres', dir])
  }
  const [initCmd, initArgs] = command(join(bin, 'initdb'), ['-D', data, '-U', 'postgres', '--auth=trust', '-E', 'UTF8', '--no-sync', '--locale=C'])
  const init = spawnSync(initCmd, initArgs, { encoding: 'utf8' })
  if (init.status !== 0) {
    rmSync(dir, { recursive: true, force: true })
    throw new Error(`initdb failed (exit ${init.status}): ${init.stderr || init.error?.message}`)
  }
  const port = await freePort()
  const [cmd, args] = command(join(bin, 'postgres'), [
    '-D',
    data,
    '-h',
    '127.0.0.1',
    '-p',
    String(port),
    '-k',
    dir,
    '-c',
    `max_connections=${options.maxConnections ?? 200}`,
    '-c',
    'fsync=off',
    '-c',
    'synchronous_commit=off',
    '-c',
    'full_page_writes=off'
  ])
  const child: ChildProcess = spawn(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'] })
  let log = ''
  child.stderr?.on('data', (chunk: Buffer) => (log += chunk.toString()))
  const killOnExit = (): void => void child.kill('SIGKILL')
  process.once('exit', killOnExit)

  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  const ready = (): boolean => {
    if (child.exitCode !== null) throw new Error(`PostgreSQL exited at start (code ${child.exitCode}): ${log}`)
    return /ready to accept connections/.test(log)
  }
  try {
    await waitFor(ready, { timeoutMs: 30_000, intervalMs: 50, what: 'PostgreSQL to accept connections' })
  } catch (error) {
    child.kill('SIGKILL')
    throw error instanceof WaitTimeoutError ? new Error(`${error.message}: ${log}`, { cause: error }) : error
  }

  return {
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    port,
    async stop() {
      process.removeListener('exit', killOnExit)
      if (child.exitCode === null) {
        child.kill('SIGINT') // fast shutdown
        const timer = setTimeout(() => child.kill('SIGKILL'), 10_000)
        await exited
        clearTimeout(timer)
      }
      rmSync(dir, { recursive: true, force: true })
    }
  }
}
