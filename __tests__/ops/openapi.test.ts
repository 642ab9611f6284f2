/**
 * The OpenAPI document: generated from the routes, committed without drift, covering every
 * route, and true to what a real server process answers in a full flow.
 */
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals'
import { readFileSync } from 'node:fs'
import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js'
import addFormats from 'ajv-formats'
import { ROUTE_DOCS } from '../../shared/server/routes'
import { OPENAPI_FILE, generateOpenApiText } from '../../shared/server/openapi-file'
import { fullFlow, startOps, type Ops } from './fixture'

jest.setTimeout(120_000)

type Doc = {
  openapi: string
  paths: Record<string, Record<string, { summary?: string; responses: Record<string, { content?: Record<string, { schema: unknown }> }> }>>
}

const METHODS = ['get', 'post', 'put', 'patch', 'delete']

function operations(doc: Doc): Array<[string, string, Doc['paths'][string][string]]> {
  return Object.entries(doc.paths).flatMap(([path, item]) =>
    Object.entries(item)
      .filter(([method]) => METHODS.includes(method))
      .map(([method, op]) => [path, method, op] as [string, string, typeof op])
  )
}

function newAjv(): Ajv2020 {
  const ajv = new Ajv2020({ strict: false, allErrors: true })
  ;(addFormats as unknown as (ajv: Ajv2020) => void)(ajv)
  return ajv
}

describe('OpenAPI document', () => {
  const committed = readFileSync(OPENAPI_FILE, 'utf8')
  const doc = JSON.parse(committed) as Doc

  it('docs/openapi.json is what the routes generate (else: npx tsx shared/server/openapi-file.ts)', async () => {
    expect(await generateOpenApiText()).toBe(committed)
  })

  it('is OpenAPI 3.1 and documents every route: summary, a success response, error envelopes', () => {
    expect(doc.openapi).toBe('3.1.0')
    const ops = operations(doc)
    expect(ops.map(([path, method]) => `${method.toUpperCase()} ${path}`).sort()).toEqual(
      Object.keys(ROUTE_DOCS)
        .map((key) => key.replace(/:(\w+)/g, '{$1}'))
        .sort()
    )
    for (const [path, method, op] of ops) {
      expect({ route: `${method} ${path}`, summary: typeof op.summary }).toEqual({ route: `${method} ${path}`, summary: 'string' })
      expect(Object.keys(op.responses).some((status) => status.startsWith('2'))).toBe(true)
    }
  })

  it('every schema in it compiles as JSON Schema 2020-12', () => {
    const ajv = newAjv()
    for (const [, , op] of operations(doc)) {
      for (const response of Object.values(op.responses)) {
        for (const media of Object.values(response.content ?? {})) expect(() => ajv.compile(media.schema as object)).not.toThrow()
      }
    }
    // And they are strict enough to catch a wrong answer: an extra field, a wrong type, a missing one.
    const exchange = ajv.compile(doc.paths['/api/v1/oidc/token']!.post!.responses['200']!.content!['application/json']!.schema as object)
    const good = { access_token: 'x', token_type: 'Bearer', expires_in: 900, expires_at: '2026-01-01T00:00:00.000Z', scope: 'agent' }
    expect(exchange(good)).toBe(true)
    expect(exchange({ ...good, refresh_token: 'y' })).toBe(false)
    expect(exchange({ ...good, expires_in: '900' })).toBe(false)
    expect(exchange({ ...good, expires_at: 'tomorrow' })).toBe(false)
    const { scope: _scope, ...missing } = good
    expect(exchange(missing)).toBe(false)
  })

  describe('validates the answers of a full flow against a server process', () => {
    let ops: Ops
    beforeAll(async () => {
      ops = await startOps()
      await fullFlow(ops)
    })
    afterAll(async () => ops?.close())

    it('serves the committed document at /openapi.json', async () => {
      expect((await ops.call('GET', '/openapi.json')).body).toEqual(doc)
    })

    it('every answer (success and error) matches the documented schema of its status', () => {
      const ajv = newAjv()
      const compiled = new Map<unknown, ValidateFunction>()
      const templates = operations(doc).map(([path, method, op]) => ({
        method,
        op,
        path,
        pattern: new RegExp(`^${path.replace(/\{\w+\}/g, '[^/]+')}$`)
      }))
      const problems: string[] = []
      const seen = new Set<string>()
      for (const { method, route, answer } of ops.answers) {
        const template = templates.find((t) => t.method === method.toLowerCase() && t.pattern.test(route.split('?')[0]!))
        if (!template) {
          // Unknown paths get the not_found envelope; the document only describes real routes.
          if (answer.status !== 404 || answer.body?.error !== 'not_found') problems.push(`${method} ${route}: not in the document`)
          continue
        }
        const where = `${method} ${template.path} ${answer.status}`
        seen.add(where)
        const documented = template.op.responses[String(answer.status)]
        if (!documented) {
          problems.push(`${where}: status not documented`)
          continue
        }
        const media = documented.content
        if (!media) {
          if (answer.text !== '') problems.push(`${where}: documented without a body, got one`)
          continue
        }
        const type = answer.headers.get('content-type') ?? ''
        const [mediaType, { schema }] = Object.entries(media)[0]!
        if (!type.startsWith(mediaType)) problems.push(`${where}: content-type ${type}, documented ${mediaType}`)
        let validate = compiled.get(schema)
        if (!validate) compiled.set(schema, (validate = ajv.compile(schema as object)))
        const value = mediaType === 'application/json' ? answer.body : answer.text
        if (!validate(value)) problems.push(`${where}: ${ajv.errorsText(validate.errors)} in ${answer.text.slice(0, 300)}`)
      }
      expect(problems).toEqual([])
      // The flow reaches every route, with successes and refusals.
      expect(new Set([...seen].map((s) => s.replace(/ \d+$/, ''))).size).toBe(operations(doc).length)
      expect(seen.size).toBeGreaterThanOrEqual(40)
    })
  })
})
