/**
 * docs/server.md is accurate: its tables match the code (configuration, metrics, audit
 * actions, CLI exit codes), and every command in it runs: the `sh server` lines start a
 * server, the `sh admin` lines succeed against one, the backup lines really back up and
 * restore (PostgreSQL and the embedded database).
 */
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals'
import { spawn } from 'node:child_process'
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { EXIT } from '../../shared/admin-cli/errors'
import { ConfigError, loadConfig } from '../../shared/server/config'
import { createContext } from '../../shared/server/context'
import { Metrics } from '../../shared/server/metrics'
import { openDatabase } from '../../shared/server/store/open'
import { call } from '../../shared/testing/api-call'
import { findPostgresBin, startPostgres, type TestPostgres } from '../../shared/testing/postgres'
import { startServerProcess } from '../../shared/testing/server-process'
import { LocalOidcIssuer } from '../../shared/testing/oidc-issuer'
import { REPO_ROOT, startOps, type Ops } from './fixture'

jest.setTimeout(300_000)

const DOC = readFileSync(join(REPO_ROOT, 'docs/server.md'), 'utf8')
const TAGS = ['server', 'admin', 'backup-pg', 'backup-embedded', 'env'] as const
type Tag = (typeof TAGS)[number]

/** The commands of every ```sh <tag> block, one per line, in document order. */
function commands(tag: Tag): string[] {
  const out: string[] = []
  for (const match of DOC.matchAll(/```sh ([\w-]+)\n([\s\S]*?)```/g)) {
    if (match[1] !== tag) continue
    out.push(...match[2]!.split('\n').filter((line) => line.trim() !== '' && !line.trim().startsWith('#')))
  }
  return out
}

/** Rows of the markdown table that follows `header`. */
function tableRows(header: string): string[][] {
  const start = DOC.indexOf(header)
  expect(start).toBeGreaterThan(-1)
  const rows: string[][] = []
  for (const line of DOC.slice(start).split('\n').slice(2)) {
    if (!line.startsWith('|')) break
    rows.push(
      line
        .split('|')
        .slice(1, -1)
        .map((cell) => cell.trim())
    )
  }
  return rows
}

const codes = (cell: string): string[] => [...cell.matchAll(/`([^`]+)`/g)].map((m) => m[1]!)

interface Run {
  code: number | null
  stdout: string
  stderr: string
}

function bash(command: string, env: Record<string, string | undefined>, cwd = REPO_ROOT): Promise<Run> {
  const childEnv: Record<string, string> = {}
  for (const [key, value] of Object.entries({ ...process.env, NODE_OPTIONS: undefined, ...env })) {
    if (value !== undefined) childEnv[key] = value
  }
  return new Promise((resolve, reject) => {
    const child = spawn('bash', ['-euo', 'pipefail', '-c', command], { cwd, env: childEnv, stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString('utf8')))
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString('utf8')))
    child.once('error', reject)
    child.once('close', (code) => resolve({ code, stdout, stderr }))
  })
}

/** Starts a documented server command, waits for its "listening" line, stops it. */
function startAndStop(command: string, env: Record<string, string>): Promise<string> {
  const childEnv: Record<string, string> = {}
  for (const [key, value] of Object.entries({ ...process.env, NODE_OPTIONS: undefined, ...env })) {
    if (value !== undefined) childEnv[key] = value
  }
  return new Promise((resolve, reject) => {
    const child = spawn('bash', ['-c', command], { cwd: REPO_ROOT, env: childEnv, stdio: ['ignore', 'pipe', 'pipe'], detached: true })
    let output = ''
    const timer = setTimeout(() => {
      process.kill(-child.pid!, 'SIGKILL')
      reject(new Error(`no "listening" line within 120 s from: ${command}\n${output}`))
    }, 120_000)
    const onData = (chunk: Buffer): void => {
      output += chunk.toString('utf8')
      if (/federate server listening on \S+/.test(output) && /(data dir|database):/.test(output)) {
        process.kill(-child.pid!, 'SIGTERM')
      }
    }
    child.stdout.on('data', onData)
    child.stderr.on('data', onData)
    child.once('close', () => {
      clearTimeout(timer)
      resolve(output)
    })
  })
}

describe('docs/server.md', () => {
  it('tags every shell block, so no command escapes these tests', () => {
    const blocks = [...DOC.matchAll(/```(\S*)( [\w-]+)?\n/g)].filter((m) => m[1] === 'sh' || m[1] === 'bash' || m[1] === 'shell')
    expect(blocks.length).toBeGreaterThan(5)
    for (const block of blocks) expect(TAGS).toContain(block[2]?.trim())
    // The env block only sets the two variables the CLI reads.
    expect(commands('env').map((l) => l.split('=')[0])).toEqual(['export FEDERATE_URL', 'export FEDERATE_ADMIN_TOKEN'])
  })

  it('lists exactly the variables the server reads, with their defaults', () => {
    const source = readFileSync(join(REPO_ROOT, 'shared/server/config.ts'), 'utf8')
    const read = new Set([...source.matchAll(/env\.([A-Z_]+)|env, '([A-Z_]+)'/g)].map((m) => m[1] ?? m[2]!))
    const rows = tableRows('| variable | meaning | default |')
    expect(new Set(rows.flatMap((row) => codes(row[0]!)))).toEqual(read)
    const defaults = Object.fromEntries(rows.map((row) => [codes(row[0]!)[0], row[2]]))
    const config = loadConfig({})
    expect(defaults.PORT).toBe(`\`${config.port}\``)
    expect(defaults.HOST).toBe(`\`${config.host}\``)
    expect(defaults.OIDC_ISSUERS).toBe(`\`${config.oidcIssuers.join(',')}\``)
    expect(defaults.FEDERATE_AUDIENCE).toBe(`\`${config.federateAudience}\``)
    expect(defaults.RATE_LIMIT_BURST).toBe(`\`${config.rateLimit.burst}\``)
    expect(defaults.RATE_LIMIT_PER_MINUTE).toBe(`\`${config.rateLimit.perMinute}\``)
    expect(defaults.ACCESS_TOKEN_TTL).toBe(`\`${config.accessTokenTtlSeconds}\``)
    expect(defaults.LOG_LEVEL).toBe(`\`${config.logLevel}\``)
    expect(config.dataDir).toBe(join(process.cwd(), '.data'))
  })

  it('quotes the configuration error the server really prints', () => {
    let message = ''
    try {
      loadConfig({ PORT: '80a' })
    } catch (error) {
      expect(error).toBeInstanceOf(ConfigError)
      message = (error as Error).message
    }
    const main = readFileSync(join(REPO_ROOT, 'shared/server/main.ts'), 'utf8')
    expect(main).toContain('federate server: bad configuration: ${error.message}')
    expect(DOC.replace(/\s+/g, ' ')).toContain(`\`federate server: bad configuration: ${message}\``)
  })

  it('lists every metric the server exposes', () => {
    const text = new Metrics(() => ({ total: 1, idle: 1, waiting: 0, max: 10 })).render()
    const exposed = new Set([...text.matchAll(/^# TYPE (\S+)/gm)].map((m) => m[1]!))
    exposed.add('federate_db_info') // appended by the route
    const documented = new Set(tableRows('| metric | type | labels |').map((row) => codes(row[0]!)[0]!))
    expect(documented).toEqual(exposed)
  })

  it('lists every audited action', () => {
    const dir = join(REPO_ROOT, 'shared/server')
    const actions = new Set<string>()
    const sources = (readdirSync(dir, { recursive: true }) as string[]).filter((file) => file.endsWith('.ts') && !file.startsWith('store/'))
    for (const file of sources) {
      const source = readFileSync(join(dir, file), 'utf8')
      for (const m of source.matchAll(/'((?:token|policy|agent|workspace|credential|signing_key|oauth_client)\.[a-z]+)'/g)) actions.add(m[1]!)
    }
    expect(actions.size).toBeGreaterThanOrEqual(9)
    const documented = new Set(tableRows('| action | when | detail |').flatMap((row) => codes(row[0]!)))
    expect(documented).toEqual(actions)
  })

  it("lists the CLI's exit codes", () => {
    const rows = tableRows('| code | meaning |')
    expect(rows.map((row) => Number(row[0]))).toEqual(Object.values(EXIT))
  })

  describe('commands', () => {
    let pg: TestPostgres
    let issuer: LocalOidcIssuer
    beforeAll(async () => {
      pg = await startPostgres()
      issuer = await LocalOidcIssuer.start()
    })
    afterAll(async () => {
      await pg?.stop()
      await issuer?.close()
    })

    it('`sh server`: each start command prints where it listens', async () => {
      const lines = commands('server')
      expect(lines.length).toBeGreaterThanOrEqual(4)
      const dataDirs = lines.map(() => mkdtempSync(join(tmpdir(), 'federate-docs-')))
      try {
        // All at once (each its own data directory): the embedded database is one process's.
        const outputs = await Promise.all(
          lines.map((line, i) => {
            // PORT=0 so nothing clashes; the example database URL becomes the test cluster.
            const command = line.replace(/postgres:\/\/federate:secret@db\.internal:5432\/federate/, pg.url).replace(/^(?!PORT=)/, 'PORT=0 ')
            return startAndStop(command, { DATA_DIR: dataDirs[i]!, OIDC_ISSUERS: issuer.url })
          })
        )
        lines.forEach((line, i) => {
          const output = outputs[i]!
          expect(output).toMatch(/federate server listening on (http:\/\/127\.0\.0\.1:\d+|https:\/\/idp\.example\.com)/)
          if (line.includes('DATABASE_URL')) expect(output).toContain('database: PostgreSQL (DATABASE_URL)')
          if (!line.includes('ADMIN_TOKEN')) expect(output).toMatch(/admin token \(generated, shown once/)
          expect(output).not.toContain(pg.url)
        })
      } finally {
        for (const dir of dataDirs) rmSync(dir, { recursive: true, force: true })
      }
    })

    describe('`sh admin`, against a running server', () => {
      let ops: Ops
      let env: Record<string, string>
      beforeAll(async () => {
        ops = await startOps()
        const url = ops.server.url
        await ops.admin('POST', '/api/v1/oidc/trust-policies', { provider: 'github', repository: 'acme/widgets' })
        const bootstrap = await ops.call('POST', '/api/v1/oidc/token', { body: { provider: 'github', token: await ops.oidcToken(url) } })
        const agent = await ops.call('POST', '/api/v1/agents', { token: bootstrap.body.access_token, body: { name: 'docs@acme.example' } })
        const agentId = agent.body.agentId as string
        await ops.admin('POST', '/api/v1/oidc/trust-policies', { provider: 'github', repository: 'acme/widgets', agentId })
        const token = (await ops.call('POST', '/api/v1/oidc/token', { body: { provider: 'github', token: await ops.oidcToken(url), agentId } })).body.access_token
        const credentialId = (await ops.admin('POST', '/api/v1/oauth/introspect', { token })).body.jti
        const policyId = (await ops.admin('POST', '/api/v1/oidc/trust-policies', { provider: 'github', repository: 'acme/old' })).body.id
        env = { FEDERATE_URL: url, FEDERATE_ADMIN_TOKEN: ops.server.adminToken, AGENT_ID: agentId, TOKEN: token, CREDENTIAL_ID: credentialId, POLICY_ID: policyId }
      })
      afterAll(async () => ops?.close())

      it('every command succeeds, in the order of the page', async () => {
        const lines = commands('admin')
        expect(lines.length).toBeGreaterThanOrEqual(15)
        const failures: string[] = []
        for (const line of lines) {
          const run = await bash(line, env)
          if (run.code !== 0) failures.push(`${line}: exit ${run.code}\n${run.stderr}`)
          expect(run.stdout + run.stderr).not.toContain(ops.server.adminToken)
        }
        expect(failures).toEqual([])
        // And they did what the page says.
        expect((await ops.admin('GET', `/api/v1/agents/${env.AGENT_ID}`)).body.status).toBe('disabled')
        expect((await ops.admin('POST', '/api/v1/oauth/introspect', { token: env.TOKEN })).body.active).toBe(false)
        const policies = (await ops.admin('GET', '/api/v1/oidc/trust-policies')).body.items as Array<{ id: string }>
        expect(policies.map((p) => p.id)).not.toContain(env.POLICY_ID)
        expect((await ops.admin('GET', '/api/v1/signing-keys')).body.items).toHaveLength(2)
      })
    })

    it('`sh backup-pg`: pg_dump, then pg_restore brings lost rows back', async () => {
      const config = loadConfig({ ADMIN_TOKEN: 'docs-test-admin-token', OIDC_ISSUERS: issuer.url, DATABASE_URL: pg.url })
      const db = await openDatabase({ databaseUrl: pg.url })
      const cwd = mkdtempSync(join(tmpdir(), 'federate-docs-pg-'))
      try {
        const context = await createContext({ config, db })
        await context.store.policies.create({ provider: 'github', issuer: issuer.url, repository: 'acme/backed-up' })
        const keysBefore = context.keys.jwks()
        const [dump, restore] = commands('backup-pg')
        const env = { DATABASE_URL: pg.url, PATH: `${findPostgresBin()}:${process.env.PATH}` }
        expect(await bash(dump!, env, cwd)).toMatchObject({ code: 0 })
        await db.query('DELETE FROM trust_policies')
        expect(await bash(restore!, env, cwd)).toMatchObject({ code: 0 })
        const restored = await openDatabase({ databaseUrl: pg.url })
        try {
          const again = await createContext({ config, db: restored })
          expect((await again.store.policies.list()).map((p) => p.repository)).toEqual(['acme/backed-up'])
          expect(again.keys.jwks()).toEqual(keysBefore)
        } finally {
          await restored.close()
        }
      } finally {
        await db.close()
        rmSync(cwd, { recursive: true, force: true })
      }
    })

    it('`sh backup-embedded`: an archive of the stopped server restores the same server', async () => {
      const cwd = mkdtempSync(join(tmpdir(), 'federate-docs-embedded-'))
      const dataDir = join(cwd, 'data')
      try {
        const first = await startServerProcess({ issuerUrl: issuer.url, dataDir })
        const jwks = (await call(first.url, 'GET', '/.well-known/jwks.json')).body
        const created = await call(first.url, 'POST', '/api/v1/oidc/trust-policies', { token: first.adminToken, body: { provider: 'github', repository: 'acme/embedded' } })
        expect(created.status).toBe(201)
        await first.stop()
        for (const line of commands('backup-embedded')) expect(await bash(line, { DATA_DIR: dataDir }, cwd)).toMatchObject({ code: 0 })
        const second = await startServerProcess({ issuerUrl: issuer.url, dataDir: join(cwd, 'restored') })
        try {
          expect((await call(second.url, 'GET', '/.well-known/jwks.json')).body).toEqual(jwks)
          const listed = await call(second.url, 'GET', '/api/v1/oidc/trust-policies', { token: second.adminToken })
          expect((listed.body.items as Array<{ repository: string }>).map((p) => p.repository)).toEqual(['acme/embedded'])
        } finally {
          await second.stop()
        }
      } finally {
        rmSync(cwd, { recursive: true, force: true })
      }
    })
  })
})
