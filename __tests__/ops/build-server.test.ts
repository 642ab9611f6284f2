/**
 * `npm run server` runs the server prebuilt by scripts/build-server.mjs with plain node. The
 * build must make one file that starts and answers /healthz on its own, that loads nothing
 * from node_modules but the embedded engine (and that only when the embedded database is
 * used), and that is rebuilt when a file it was made from changes (scripts/build-server-run.mjs
 * asks isStale).
 */
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals'
import { execFile, spawn } from 'node:child_process'
import { mkdirSync, mkdtempSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs'
import { builtinModules } from 'node:module'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { pgliteVersion } from '../../shared/server/store/pglite'
import { clusterArchiveName, unpackArchive } from '../../shared/server/store/pglite-cluster'
import { waitFor } from '../../shared/testing/wait-for'
import { REPO_ROOT } from './fixture'

jest.setTimeout(180_000)

const run = promisify(execFile)
const BUILD_SCRIPT = join(REPO_ROOT, 'scripts/build-server.mjs')

/** isStale(outfile) from the build script, asked in a child process (the script is plain ESM). */
async function isStale(outfile: string): Promise<boolean> {
  const code = `import { isStale } from ${JSON.stringify(BUILD_SCRIPT)}; console.log(isStale(${JSON.stringify(outfile)}))`
  const { stdout } = await run(process.execPath, ['--input-type=module', '-e', code], { cwd: REPO_ROOT })
  return JSON.parse(stdout) as boolean
}

describe('scripts/build-server.mjs', () => {
  // Inside the repository: the build leaves @electric-sql/pglite in node_modules, so the
  // output must sit where node_modules resolves.
  let dir: string
  let outfile: string
  beforeAll(async () => {
    mkdirSync(join(REPO_ROOT, 'tmp'), { recursive: true })
    dir = mkdtempSync(join(REPO_ROOT, 'tmp', 'build-server-'))
    outfile = join(dir, 'main.mjs')
    await run(process.execPath, [BUILD_SCRIPT, outfile], { cwd: REPO_ROOT })
  })
  afterAll(() => {
    if (dir) rmSync(dir, { recursive: true, force: true })
  })

  it('bundles every dependency but the embedded engine, which it imports only when used', () => {
    const code = readFileSync(outfile, 'utf8')
    const staticImports = [...code.matchAll(/^import\s[^'"]*?from\s*["']([^"']+)["']/gm)].map((m) => m[1]!)
    expect(staticImports.filter((name) => !name.startsWith('node:') && !builtinModules.includes(name))).toEqual([])
    // `{import('...')}` is a JSDoc type in bundled comments, not code.
    const dynamicImports = new Set([...code.matchAll(/(?<![{\w.])import\(\s*["']([^"']+)["']\s*\)/g)].map((m) => m[1]!))
    expect([...dynamicImports]).toEqual(['@electric-sql/pglite'])
  })

  it('starts with plain node on a new data dir, answers /healthz, and stops cleanly on SIGTERM', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'federate-build-server-'))
    const env: Record<string, string> = {
      PATH: process.env.PATH ?? '',
      HOME: process.env.HOME ?? tmpdir(),
      PORT: '0',
      HOST: '127.0.0.1',
      DATA_DIR: dataDir,
      ADMIN_TOKEN: 'build-server-test-admin-token-0123456789',
      LOG_LEVEL: 'warn'
    }
    const child = spawn(process.execPath, [outfile], { cwd: REPO_ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] })
    let output = ''
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')))
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')))
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)))
    try {
      let exitCode: number | null | undefined
      void exited.then((code) => (exitCode = code))
      const listening = (): RegExpExecArray | null => {
        if (exitCode !== undefined) throw new Error(`server exited with ${exitCode} before listening:\n${output}`)
        return /federate server listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(output)
      }
      const url = (await waitFor(listening, { timeoutMs: 60_000, what: 'the built server to print its URL' }))[1]!
      const res = await fetch(`${url}/healthz`)
      expect({ status: res.status, body: await res.json() }).toEqual({ status: 200, body: { status: 'ok' } })
      expect(output).toContain(`data dir: ${dataDir} (embedded database)`)
      child.kill('SIGTERM')
      expect(await exited).toBe(0)
      // The new data dir was unpacked from the made cluster copied beside the build, not made by
      // initdb (which draws a new system identifier, the first 8 bytes of pg_control).
      const made = join(dir, 'made-cluster')
      mkdirSync(made, { mode: 0o700 })
      await unpackArchive(join(dir, clusterArchiveName(await pgliteVersion())), made)
      const identifier = (dataDir: string): string =>
        readFileSync(join(dataDir, 'global', 'pg_control'))
          .subarray(0, 8)
          .toString('hex')
      expect(identifier(dataDir)).toBe(identifier(made))
    } finally {
      child.kill('SIGKILL')
      await exited
      rmSync(dataDir, { recursive: true, force: true })
    }
  })

  it('records what it was built from, and is stale once one of those files changes or goes', async () => {
    const record = JSON.parse(readFileSync(`${outfile}.inputs.json`, 'utf8')) as { startedAt: number; inputs: string[] }
    const archive = join(REPO_ROOT, 'shared/server/store', clusterArchiveName(await pgliteVersion()))
    expect(record.inputs).toEqual(expect.arrayContaining([join(REPO_ROOT, 'shared/server/main.ts'), BUILD_SCRIPT, archive]))
    expect(record.inputs.some((file) => file.includes('/node_modules/fastify/'))).toBe(true)

    // The same output, said to be built from one file we control (the real sources may be
    // edited while this runs).
    const source = join(dir, 'source.ts')
    writeFileSync(source, 'export {}\n')
    const past = new Date(record.startedAt - 60_000)
    utimesSync(source, past, past)
    writeFileSync(`${outfile}.inputs.json`, JSON.stringify({ startedAt: record.startedAt, inputs: [source] }))
    expect(await isStale(outfile)).toBe(false)
    const later = new Date(record.startedAt + 1_000)
    utimesSync(source, later, later)
    expect(await isStale(outfile)).toBe(true)
    rmSync(source)
    expect(await isStale(outfile)).toBe(true)
    expect(await isStale(join(dir, 'never-built.mjs'))).toBe(true)
  })
})
