import { describe, expect, it } from '@jest/globals'
import { spawn } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { waitFor } from '../../shared/testing/wait-for'
import { describeStartsProcess } from '../tiers'
import { call, startTestServer } from './helpers'

const ROOT = fileURLToPath(new URL('../..', import.meta.url))

describe('when the database fails', () => {
  it('answers 500 in the envelope without internals, and healthz says 503', async () => {
    const server = await startTestServer()
    try {
      await server.context.store.db.close()
      const res = await call(server.url, 'POST', '/v1/identity/federate', { token: await server.issuer.mint({ audience: 'persql' }) })
      expect(res.status).toBe(500)
      expect(res.body).toEqual({ success: false, error: 'internal error; see the server log', code: 'server_error' })
      const health = await call(server.url, 'GET', '/healthz')
      expect(health.status).toBe(503)
    } finally {
      await server.close() // the database it closed stays closed
    }
  })
})

describe('when the OIDC issuer cannot be reached', () => {
  it('answers 503 temporarily_unavailable with Retry-After (retryable), not 401', async () => {
    const unreachable = Object.assign(new Error('could not fetch the JWKS of http://127.0.0.1:9'), {
      name: 'OidcTokenError',
      code: 'invalid_token',
      retryable: true
    })
    const server = await startTestServer({}, { verifier: { verify: async () => Promise.reject(unreachable) } })
    try {
      const token = await server.issuer.mint({ audience: server.url })
      const a = await call(server.url, 'POST', '/api/v1/oidc/token', { body: { provider: 'github', token } })
      expect(a.status).toBe(503)
      expect(a.body.error).toBe('temporarily_unavailable')
      expect(a.headers.get('retry-after')).toBe('5')
      const b = await call(server.url, 'POST', '/v1/identity/federate', { token })
      expect(b.status).toBe(503)
      expect(b.body).toMatchObject({ success: false, code: 'temporarily_unavailable' })
    } finally {
      await server.close()
    }
  })
})

describeStartsProcess('npm run server without ADMIN_TOKEN', () => {
  it('generates one, prints it once with the URL and the data dir, and it works', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'federate-admin-'))
    const env: Record<string, string> = { PATH: process.env.PATH ?? '', PORT: '0', DATA_DIR: dataDir, LOG_LEVEL: 'warn' }
    const child = spawn(process.execPath, ['--import', 'tsx', 'shared/server/main.ts'], { cwd: ROOT, env })
    let out = ''
    child.stdout.on('data', (c: Buffer) => (out += c.toString()))
    child.stderr.on('data', (c: Buffer) => (out += c.toString()))
    const exited = new Promise<number | null>((resolve) => child.once('exit', resolve))
    try {
      const token = (await waitFor(() => /admin token.*: (\S+)/.exec(out), { timeoutMs: 100_000, what: 'the generated admin token in the output' }))[1]!
      const url = /federate server listening on (\S+)/.exec(out)![1]!
      expect(out).toContain(`data dir: ${dataDir}`)
      expect(out.split(token).length - 1).toBe(1)
      expect((await call(url, 'GET', '/api/v1/oidc/trust-policies', { token })).status).toBe(200)
      expect(out.split(token).length - 1).toBe(1)
    } finally {
      child.kill('SIGINT')
      expect(await exited).toBe(0)
      rmSync(dataDir, { recursive: true, force: true })
    }
  }, 120_000)
})

describe('graceful close', () => {
  it('lets a request in flight finish when the server closes', async () => {
    let release!: () => void
    const gate = new Promise<void>((resolve) => (release = resolve))
    let entered!: () => void
    const inside = new Promise<void>((resolve) => (entered = resolve))
    const real: { verify?: (t: string, a: string) => Promise<unknown> } = {}
    const server = await startTestServer(
      {},
      {
        verifier: {
          async verify(token, audience) {
            entered()
            await gate
            return real.verify!(token, audience) as never
          }
        }
      }
    )
    const { OidcVerifier } = await import('../../shared/server/trust')
    const verifier = new OidcVerifier({ issuers: [server.issuer.url], rejectIssuers: [server.url] })
    real.verify = (t, a) => verifier.verify(t, a)
    try {
      const token = await server.issuer.mint({ audience: 'persql' })
      const pending = call(server.url, 'POST', '/v1/identity/federate', { token })
      await inside
      const closing = server.app.close()
      release()
      const res = await pending
      expect(res.status).toBe(201)
      await closing
    } finally {
      await server.close() // the app is closed already; the database and the issuer are not
    }
  })
})
