/**
 * Starts a real, throw-away PostgreSQL server for tests and benchmarks: Debian's binaries
 * (installed by .ci/run), a fresh cluster in a temporary directory, listening on 127.0.0.1
 * only, stopped and deleted by `stop()`. When we run as root, the server runs as the
 * `postgres` user (PostgreSQL refuses to run as root).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { existsSync, mkdtempSync, readdirSync, rmSync, chmodSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

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

async function freePort(): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const address = server.address()
  await new Promise<void>((resolve) => server.close(() => resolve()))
  if (address === null || typeof address === 'string') throw new Error('could not pick a free port')
  return address.port
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
  const deadline = Date.now() + 30_000
  for (;;) {
    if (child.exitCode !== null) throw new Error(`PostgreSQL exited at start (code ${child.exitCode}): ${log}`)
    if (/ready to accept connections/.test(log)) break
    if (Date.now() > deadline) {
      child.kill('SIGKILL')
      throw new Error(`PostgreSQL did not start within 30 s: ${log}`)
    }
    await new Promise((resolve) => setTimeout(resolve, 50))
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
