/**
 * docs/protocol.md tells the truth, cheaply: it is compared with what the code declares,
 * never with a running server. Every operation of docs/openapi.json is written in it and it
 * writes no other; every error code the server can answer is in its table of codes, at the
 * status the sources throw it with; every input and output of the action.yml files is in the
 * section of its action, with its default. And the repository stands on its own: no file
 * points at the design notes or the folders kept outside it.
 */
import { describe, expect, it } from '@jest/globals'
import { readdirSync, readFileSync, statSync } from 'node:fs'
import { join, relative, resolve } from 'node:path'
import { parse } from 'yaml'

const root = resolve(import.meta.dirname ?? new URL('.', import.meta.url).pathname, '..')
const read = (file: string): string => readFileSync(join(root, file), 'utf8')

const DOC = read('docs/protocol.md')
const DOC_LINES = DOC.split('\n')

const METHODS = ['get', 'post', 'put', 'patch', 'delete']

/** "METHOD /path" of every operation in docs/openapi.json (paths as OpenAPI writes them: /x/{id}). */
function openApiOperations(): string[] {
  const doc = JSON.parse(read('docs/openapi.json')) as { paths: Record<string, Record<string, unknown>> }
  return Object.entries(doc.paths).flatMap(([path, item]) =>
    Object.keys(item)
      .filter((method) => METHODS.includes(method))
      .map((method) => `${method.toUpperCase()} ${path}`)
  )
}

/** Every .ts file under `dir`, relative to the repository. */
function sources(dir: string): string[] {
  return readdirSync(join(root, dir), { recursive: true, encoding: 'utf8' })
    .filter((file) => file.endsWith('.ts'))
    .map((file) => join(dir, file))
}

/** The members of a string-literal union type `name` in `source`. */
function unionMembers(source: string, name: string): string[] {
  const match = new RegExp(`export type ${name} =([^;]*?)(?:\\n\\n|\\n(?:export|const|function|/\\*\\*))`).exec(source)
  expect(match).not.toBeNull()
  return [...match![1]!.matchAll(/'([a-z_:]+)'/g)].map((m) => m[1]!)
}

/** True when the table of codes has a row for `status` with `code`. */
function hasRow(status: number, code: string): boolean {
  return DOC_LINES.some((line) => line.startsWith(`| ${status} | \`${code}\` |`))
}

describe('docs/protocol.md: routes', () => {
  const operations = openApiOperations()

  it('mentions every operation of docs/openapi.json as "METHOD /path"', () => {
    expect(operations.length).toBeGreaterThan(15)
    const missing = operations.filter((operation) => !DOC.includes(operation))
    expect(missing).toEqual([])
  })

  it('documents no route the server does not have', () => {
    const written = [...DOC.matchAll(/\b(GET|POST|PUT|PATCH|DELETE) (\/[^\s`)|,;:]*)/g)].map((m) => `${m[1]} ${m[2]}`)
    expect(written.length).toBeGreaterThan(15)
    const unknown = [...new Set(written)].filter((operation) => !operations.includes(operation))
    expect(unknown).toEqual([])
  })
})

describe('docs/protocol.md: errors', () => {
  const serverSources = sources('shared/server').map((file) => ({ file, text: read(file) }))

  it('lists every ApiErrorCode in its table of codes', () => {
    const codes = unionMembers(read('shared/server/errors.ts'), 'ApiErrorCode')
    expect(codes.length).toBeGreaterThan(10)
    const missing = codes.filter((code) => !DOC_LINES.some((line) => /^\| \d{3} \| /.test(line) && line.includes(`\`${code}\``)))
    expect(missing).toEqual([])
  })

  it('has a row for every status and code the server throws', () => {
    const pairs = new Set<string>()
    for (const { text } of serverSources) {
      for (const m of text.matchAll(/new ApiError\(\s*(\d{3}),\s*'([a-z_]+)'/g)) pairs.add(`${m[1]} ${m[2]}`)
      // Replies written directly in the protocol's envelope (the error handlers, not-found).
      for (const m of text.matchAll(/code\((\d{3})\)\.send\(envelope\([^,]+,\s*'([a-z_]+)'/g)) pairs.add(`${m[1]} ${m[2]}`)
    }
    // Fastify's and the HTTP parser's own errors, mapped in app.ts: always invalid_request.
    for (const m of read('shared/server/app.ts').matchAll(/status(?: =|:) (\d{3})\b/g)) pairs.add(`${m[1]} invalid_request`)
    // Trust decisions throw their code dynamically: every denial code is a 403.
    for (const code of unionMembers(read('shared/server/oidc/policy.ts'), 'DenialCode')) pairs.add(`403 ${code}`)
    expect(pairs.size).toBeGreaterThan(20)
    const missing = [...pairs].filter((pair) => {
      const [status, code] = pair.split(' ') as [string, string]
      return !hasRow(Number(status), code)
    })
    expect(missing).toEqual([])
  })

  it('has a row for every error status of docs/openapi.json', () => {
    const doc = JSON.parse(read('docs/openapi.json')) as { paths: Record<string, Record<string, { responses?: Record<string, unknown> }>> }
    const statuses = new Set(
      Object.values(doc.paths)
        .flatMap((item) => Object.values(item))
        .flatMap((op) => Object.keys(op.responses ?? {}))
        .map(Number)
        .filter((status) => status >= 400)
    )
    const missing = [...statuses].filter((status) => !DOC_LINES.some((line) => line.startsWith(`| ${status} | `)))
    expect(missing).toEqual([])
  })
})

interface ActionYml {
  inputs: Record<string, { required?: boolean; default?: string }>
  outputs: Record<string, unknown>
}

/** The text of the `### <name>` section of "The actions". */
function actionSection(name: string): string {
  const actions = DOC.slice(DOC.indexOf('\n## The actions\n'))
  const start = actions.indexOf(`\n### ${name}\n`)
  expect(start).toBeGreaterThan(-1)
  const rest = actions.slice(start + 1)
  const end = rest.slice(1).search(/\n##+ /)
  return end === -1 ? rest : rest.slice(0, end + 1)
}

describe.each([
  ['action.yml', 'federate'],
  ['federate/action.yml', 'federate'],
  ['register-agent/action.yml', 'register-agent'],
  ['issue-token/action.yml', 'issue-token'],
  ['agent/action.yml', 'agent']
])('docs/protocol.md: %s', (file, section) => {
  const yml = parse(read(file)) as ActionYml
  const text = actionSection(section)
  const row = (name: string): string | undefined => text.split('\n').find((line) => line.startsWith(`| \`${name}\` |`))

  it(`lists every input in the "${section}" section, with its default`, () => {
    for (const [name, input] of Object.entries(yml.inputs)) {
      const line = row(name)
      expect({ input: name, documented: line !== undefined }).toEqual({ input: name, documented: true })
      if (input.required) expect(line).toContain('required')
      else if (input.default) expect(line).toContain(`\`${input.default}\``)
    }
  })

  it(`lists every output in the "${section}" section`, () => {
    const missing = Object.keys(yml.outputs).filter((name) => row(name) === undefined)
    expect(missing).toEqual([])
  })
})

describe('the repository stands on its own', () => {
  // Written so that this file does not match itself.
  const OUTSIDE = [new RegExp(['design', 'md'].join('\\.'), 'i'), /\/work\/shared\b/, /\.\.\/shared\/(?:seeds|notes|hooks|style)/]
  const SKIP = new Set(['node_modules', '.git', 'build', 'tmp', '.data'])

  function files(dir: string): string[] {
    return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
      const path = join(dir, entry.name)
      if (entry.isDirectory()) {
        if (SKIP.has(entry.name) || (entry.name.startsWith('.') && entry.name !== '.github' && entry.name !== '.ci')) return []
        return files(path)
      }
      return entry.isFile() && statSync(path).size < 4 * 1024 * 1024 ? [path] : []
    })
  }

  it('no file points at the design notes or the folders kept outside the repository', () => {
    const offenders = files(root).flatMap((path) => {
      const text = readFileSync(path, 'utf8')
      return OUTSIDE.filter((pattern) => pattern.test(text)).map((pattern) => `${relative(root, path)}: ${pattern}`)
    })
    expect(offenders).toEqual([])
  })
})
