/**
 * The committed OpenAPI document passes Redocly's recommended rules (redocly.yaml) with zero
 * errors and zero warnings; the only problems set aside are the ones .redocly.lint-ignore.yaml
 * names with its reason. And what the linter made the document say is what the server does:
 * the statuses Fastify answers before a handler (400, 414 on path parameters; 400, 413, 415 on
 * bodies) and the trust-policy body's required `provider` and `repository`.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals'
import { spawnSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import type { AddressInfo } from 'node:net'
import { join, resolve } from 'node:path'
import type { FastifyInstance } from 'fastify'
import { buildServer } from '../../shared/server/app'
import { loadConfig } from '../../shared/server/config'
import { createContext } from '../../shared/server/context'
import { OPENAPI_FILE } from '../../shared/server/openapi-file'
import { openDatabase } from '../../shared/server/store/open'

const root = resolve(import.meta.dirname ?? new URL('.', import.meta.url).pathname, '../..')
const REDOCLY = createRequire(join(root, 'package.json')).resolve('@redocly/cli/bin/cli.js')

interface LintReport {
  totals: { errors: number; warnings: number; ignored: number }
  problems: Array<{ ruleId: string; severity: string; message: string; location: Array<{ pointer: string }> }>
}

/** `redocly lint --format=json` in the repository (its redocly.yaml), on `file` or the configured API. */
function redoclyLint(file?: string): LintReport {
  const result = spawnSync(process.execPath, [REDOCLY, 'lint', ...(file ? [file] : []), '--format=json'], {
    cwd: root,
    encoding: 'utf8',
    env: { ...process.env, REDOCLY_TELEMETRY: 'off', REDOCLY_SUPPRESS_UPDATE_NOTICE: 'true', NO_COLOR: '1' },
    timeout: 60_000
  })
  const json = result.stdout.slice(result.stdout.indexOf('{'))
  if (!json) throw new Error(`redocly printed no report (exit ${result.status}): ${result.stderr}`)
  return JSON.parse(json) as LintReport
}

describe("docs/openapi.json against Redocly's recommended rules", () => {
  it('has zero errors and zero warnings; only the five problems .redocly.lint-ignore.yaml names are set aside', () => {
    const report = redoclyLint()
    expect(report.problems.map((p) => `${p.severity} ${p.ruleId} ${p.location[0]?.pointer}: ${p.message}`)).toEqual([])
    expect(report.totals).toEqual({ errors: 0, warnings: 0, ignored: 5 })
  })

  it('reports what it should (the linter is not vacuous): an operation without operationId', () => {
    const dir = mkdtempSync(join(tmpdir(), 'openapi-lint-'))
    try {
      const doc = JSON.parse(readFileSync(OPENAPI_FILE, 'utf8')) as { paths: Record<string, Record<string, { operationId?: string }>> }
      delete doc.paths['/api/v1/agents']!.post!.operationId
      writeFileSync(join(dir, 'openapi.json'), JSON.stringify(doc))
      const report = redoclyLint(join(dir, 'openapi.json'))
      expect(report.problems.map((p) => p.ruleId)).toContain('operation-operationId')
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
})

describe('the server answers what the document says', () => {
  const ADMIN_TOKEN = 'openapi-lint-test-admin-token'
  let app: FastifyInstance
  let base: string
  let close: () => Promise<void>
  const doc = JSON.parse(readFileSync(OPENAPI_FILE, 'utf8')) as {
    paths: Record<string, Record<string, { responses: Record<string, unknown>; requestBody?: { content: Record<string, { schema: { required?: string[] } }> } }>>
  }

  beforeAll(async () => {
    const config = loadConfig({ ADMIN_TOKEN, OIDC_ISSUERS: 'http://127.0.0.1:9', PREAUTH_FAILURE_BURST: '1000', PREAUTH_FAILURE_PER_MINUTE: '1000' })
    const db = await openDatabase({})
    app = await buildServer(await createContext({ config, db }))
    await app.listen({ port: 0, host: '127.0.0.1' })
    base = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`
    close = async () => {
      await app.close()
      await db.close()
    }
  })
  afterAll(async () => close?.())

  /** Over real HTTP (Fastify's inject() does not load under this jest setup). */
  async function send(method: string, url: string, headers: Record<string, string>, body?: unknown) {
    const res = await fetch(base + url, { method, headers, ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }) })
    return { statusCode: res.status, json: (await res.json()) as Record<string, unknown> }
  }

  const admin = { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' }

  it('the trust-policy body requires provider and repository, and a body without either is a 400 naming it', async () => {
    const body = doc.paths['/api/v1/oidc/trust-policies']!.post!.requestBody!.content['application/json']!.schema
    expect(body.required).toEqual(['provider', 'repository'])
    for (const [payload, field] of [
      [{ provider: 'github', branch: 'main' }, 'repository'],
      [{ repository: 'acme/widgets' }, 'provider']
    ] as const) {
      const res = await send('POST', '/api/v1/oidc/trust-policies', admin, payload)
      expect({ status: res.statusCode, body: res.json }).toEqual({
        status: 400,
        body: { error: 'invalid_request', error_description: expect.stringContaining(field) }
      })
    }
    const created = await send('POST', '/api/v1/oidc/trust-policies', admin, { provider: 'github', repository: 'acme/widgets' })
    expect(created.statusCode).toBe(201)
  })

  it.each([
    ['GET', '/v1/db/{namespace}/{database}', 414, 'B', `/v1/db/${'n'.repeat(101)}/main`],
    ['GET', '/v1/db/{namespace}/{database}', 400, 'B', '/v1/db/%E0%A4%A/main'],
    ['GET', '/api/v1/agents/{id}', 414, 'A', `/api/v1/agents/${'a'.repeat(101)}`],
    ['POST', '/api/v1/oidc/trust-policies', 415, 'A', '/api/v1/oidc/trust-policies'],
    ['POST', '/v1/identity/federate', 415, 'B', '/v1/identity/federate'],
    ['POST', '/api/v1/oidc/explain', 413, 'A', '/api/v1/oidc/explain']
  ] as const)('%s %s can answer %i (in protocol %s): documented', async (method, path, status, protocol, url) => {
    expect(Object.keys(doc.paths[path]![method.toLowerCase()]!.responses)).toContain(String(status))
    const payload = status === 413 ? JSON.stringify({ pad: 'x'.repeat(70_000) }) : status === 415 ? '<xml/>' : undefined
    const headers = { ...admin, ...(status === 415 ? { 'content-type': 'application/xml' } : {}) }
    const res = await send(method, url, headers, payload)
    expect(res.statusCode).toBe(status)
    expect(Object.keys(res.json).sort()).toEqual(protocol === 'A' ? ['error', 'error_description'] : ['code', 'error', 'success'])
  })
})
