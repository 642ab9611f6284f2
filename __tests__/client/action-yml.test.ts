/**
 * The action.yml files agree with the code: every input the parser reads is declared
 * (with the default the code assumes), every output the code sets is declared, and the
 * composite `agent` runs the same bundles with every input passed through.
 */
import { describe, expect, it } from '@jest/globals'
import { readFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { parse } from 'yaml'

const root = resolve(import.meta.dirname ?? new URL('.', import.meta.url).pathname, '../..')

interface ActionYml {
  name: string
  description: string
  branding?: { icon: string; color: string }
  inputs: Record<string, { description: string; required?: boolean; default?: string }>
  outputs: Record<string, { description: string; value?: string }>
  runs: { using: string; main?: string; post?: string; steps?: Array<{ id: string; shell: string; run: string; env: Record<string, string> }> }
}

const load = (file: string): ActionYml => parse(readFileSync(join(root, file), 'utf8')) as ActionYml

const RETRY = { 'max-attempts': '5', 'timeout-seconds': '90' }

describe.each([
  ['action.yml', { 'api-url': undefined, audience: 'persql', ...RETRY }, ['token', 'url', 'namespace', 'database', 'identity', 'created', 'expires-at']],
  ['federate/action.yml', { 'api-url': undefined, audience: 'persql', ...RETRY }, ['token', 'url', 'namespace', 'database', 'identity', 'created', 'expires-at']],
  [
    'register-agent/action.yml',
    { 'api-url': undefined, 'agent-name': undefined, 'agent-description': '', audience: '', 'dry-run': 'false', ...RETRY },
    ['agent-id', 'created', 'allowed']
  ],
  [
    'issue-token/action.yml',
    { 'api-url': undefined, 'agent-id': undefined, audience: '', ttl: '', revoke: 'true', 'dry-run': 'false', ...RETRY },
    ['access-token', 'expires-at', 'allowed']
  ]
] as const)('%s', (file, inputs, outputs) => {
  const yml = load(file)

  it('declares exactly the inputs the code reads, with its defaults; required ones have none', () => {
    expect(Object.keys(yml.inputs).sort()).toEqual(Object.keys(inputs).sort())
    for (const [name, fallback] of Object.entries(inputs)) {
      const input = yml.inputs[name]!
      expect(input.description.length).toBeGreaterThan(10)
      if (fallback === undefined) expect(input).toMatchObject({ required: true })
      else expect({ name, default: input.default }).toEqual({ name, default: fallback })
    }
  })

  it('declares the outputs the code sets, each described', () => {
    expect(Object.keys(yml.outputs).sort()).toEqual([...outputs].sort())
    for (const output of Object.values(yml.outputs)) expect(output.description.length).toBeGreaterThan(5)
  })

  it('has a name, description and branding, and runs on node24', () => {
    expect(yml.name).toBeTruthy()
    expect(yml.description.length).toBeGreaterThan(20)
    expect(yml.branding).toEqual({ icon: expect.any(String), color: expect.any(String) })
    expect(yml.runs.using).toBe('node24')
  })
})

describe('agent/action.yml (composite)', () => {
  const yml = load('agent/action.yml')
  const steps = yml.runs.steps ?? []

  it('runs the register-agent and issue-token bundles of the same checkout', () => {
    expect(yml.runs.using).toBe('composite')
    expect(steps.map((s) => [s.id, s.shell, s.run])).toEqual([
      ['register', 'bash', 'node "$GITHUB_ACTION_PATH/../dist/register-agent/index.js"'],
      ['issue', 'bash', 'node "$GITHUB_ACTION_PATH/../dist/issue-token/index.js"']
    ])
  })

  it('passes each of its inputs to the steps as INPUT_* variables, and the agent id from step to step', () => {
    const register = steps[0]!.env
    const issue = steps[1]!.env
    for (const name of ['api-url', 'agent-name', 'agent-description', 'audience', 'max-attempts', 'timeout-seconds']) {
      expect(register[`INPUT_${name.toUpperCase()}`]).toBe(`\${{ inputs.${name} }}`)
    }
    for (const name of ['api-url', 'audience', 'ttl', 'max-attempts', 'timeout-seconds']) {
      expect(issue[`INPUT_${name.toUpperCase()}`]).toBe(`\${{ inputs.${name} }}`)
    }
    expect(issue['INPUT_AGENT-ID']).toBe('${{ steps.register.outputs.agent-id }}')
    // No post step in a composite: the issue step must not pretend it will revoke.
    expect(issue.INPUT_REVOKE).toBe('false')
    const passed = new Set([...Object.keys(register), ...Object.keys(issue)].map((k) => k.slice('INPUT_'.length).toLowerCase()))
    for (const input of Object.keys(yml.inputs)) expect(passed).toContain(input)
  })

  it('maps its outputs from the steps', () => {
    expect(Object.fromEntries(Object.entries(yml.outputs).map(([k, v]) => [k, v.value]))).toEqual({
      'agent-id': '${{ steps.register.outputs.agent-id }}',
      created: '${{ steps.register.outputs.created }}',
      'access-token': '${{ steps.issue.outputs.access-token }}',
      'expires-at': '${{ steps.issue.outputs.expires-at }}'
    })
  })
})
