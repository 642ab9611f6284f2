/**
 * The action.yml files agree with the code: each declares exactly the inputs its parser reads
 * (shared/client/inputs.ts), required exactly when the parser requires them, with the default
 * the parser falls back to; every output the code sets is declared; and the composite `agent`
 * runs the same bundles with every input passed through. The expectations about inputs come
 * from the parsers themselves (which INPUT_* variables they read, what they call required, what
 * they fall back to), not from a copy of them.
 */
import { describe, expect, it } from '@jest/globals'
import { readFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { parse } from 'yaml'
import { federateAction } from '../../shared/client/actions/federate'
import { issueTokenAction } from '../../shared/client/actions/issue-token'
import { registerAgentAction } from '../../shared/client/actions/register-agent'
import { ActionError } from '../../shared/client/errors'
import { INPUT, type Env } from '../../shared/client/inputs'

const root = resolve(import.meta.dirname ?? new URL('.', import.meta.url).pathname, '../..')

interface ActionYml {
  name: string
  description: string
  branding?: { icon: string; color: string }
  inputs: Record<string, { description: string; required?: boolean; default?: unknown }>
  outputs: Record<string, { description: string; value?: string }>
  runs: { using: string; main?: string; post?: string; steps?: Array<{ id: string; shell: string; run: string; env: Record<string, string> }> }
}

const load = (file: string): ActionYml => parse(readFileSync(join(root, file), 'utf8')) as ActionYml

type Parser = (env: Env) => object

/** Each action's parser, as its ActionSpec (what the bundle runs) has it. */
const parseFederate: Parser = (env) => federateAction.parse(env)
const parseRegisterAgent: Parser = (env) => registerAgentAction.parse(env)
const parseIssueToken: Parser = (env) => issueTokenAction.parse(env)

const variable = (input: string): string => `INPUT_${input.toUpperCase()}`

/** The inputs `parse` reads (the INPUT_* variables it looks up), as input names. */
function inputsRead(parse: Parser): string[] {
  const looked = new Set<string>()
  const recorder = new Proxy<Env>(
    {},
    {
      get(_target, key) {
        if (typeof key === 'string' && key.startsWith('INPUT_')) looked.add(key)
        return undefined
      }
    }
  )
  try {
    parse(recorder)
  } catch (error) {
    if (!(error instanceof ActionError)) throw error
  }
  return [...looked].map((name) => {
    const input = Object.values(INPUT).find((candidate) => variable(candidate) === name)
    if (!input) throw new Error(`the parser reads ${name}, which is not in INPUT`)
    return input
  })
}

/** The inputs the parser calls required when none is given. */
function requiredInputs(parse: Parser): string[] {
  try {
    parse({})
  } catch (error) {
    if (error instanceof ActionError) return [...error.message.matchAll(/Input '([^']+)' is required/g)].map((match) => match[1]!)
    throw error
  }
  return []
}

/** A value each required input accepts (the rest is the parser's business). */
const SAMPLE: Record<string, string> = {
  [INPUT.apiUrl]: 'https://idp.example.com',
  [INPUT.agentName]: 'release-bot@acme.example',
  [INPUT.agentId]: '0b6f3c9e-2d7a-4c1e-9f5b-8a2e4d6c1f30'
}

function validEnv(parse: Parser, overrides: Record<string, string> = {}): Env {
  const env: Env = {}
  for (const input of requiredInputs(parse)) {
    if (!(input in SAMPLE)) throw new Error(`no sample value for the required input '${input}': add one to SAMPLE`)
    env[variable(input)] = SAMPLE[input]
  }
  for (const [input, value] of Object.entries(overrides)) env[variable(input)] = value
  return env
}

/**
 * What action.yml should give as the default of an optional input: the value the parser falls
 * back to, as a string ('' when it falls back to nothing, or to something it derives from another
 * input, like the audience from api-url's origin).
 */
function expectedDefault(parse: Parser, input: string): string {
  const key = Object.entries(INPUT).find(([, name]) => name === input)![0]
  const fallback = (parse(validEnv(parse)) as Record<string, unknown>)[key]
  const elsewhere = (parse(validEnv(parse, { [INPUT.apiUrl]: 'https://elsewhere.example.org' })) as Record<string, unknown>)[key]
  if (fallback === undefined || fallback !== elsewhere) return ''
  if (typeof fallback !== 'string' && typeof fallback !== 'number' && typeof fallback !== 'boolean') throw new Error(`'${input}' falls back to a ${typeof fallback}`)
  return String(fallback)
}

describe.each([
  ['action.yml', parseFederate, ['token', 'url', 'namespace', 'database', 'identity', 'created', 'expires-at']],
  ['federate/action.yml', parseFederate, ['token', 'url', 'namespace', 'database', 'identity', 'created', 'expires-at']],
  ['register-agent/action.yml', parseRegisterAgent, ['agent-id', 'created', 'allowed']],
  ['issue-token/action.yml', parseIssueToken, ['access-token', 'expires-at', 'allowed']]
] as const)('%s', (file, parseInputs, outputs) => {
  const yml = load(file)
  const read = inputsRead(parseInputs)
  const required = requiredInputs(parseInputs)

  it('declares exactly the inputs the code reads; the required ones as required, without a default', () => {
    expect(read.length).toBeGreaterThan(3)
    expect(Object.keys(yml.inputs).sort()).toEqual([...read].sort())
    for (const name of read) {
      const input = yml.inputs[name]!
      expect(input.description.length).toBeGreaterThan(10)
      if (required.includes(name)) expect({ name, required: input.required, default: input.default }).toEqual({ name, required: true, default: undefined })
      else expect({ name, required: input.required ?? false }).toEqual({ name, required: false })
    }
  })

  it('gives each optional input the default the code falls back to, and that default means the same to the code', () => {
    for (const name of read.filter((input) => !required.includes(input))) {
      const declared = yml.inputs[name]!.default
      expect({ name, default: declared }).toEqual({ name, default: expectedDefault(parseInputs, name) })
      expect({ name, parsed: parseInputs(validEnv(parseInputs, { [name]: String(declared) })) }).toEqual({ name, parsed: parseInputs(validEnv(parseInputs)) })
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

  /** What the composite does not ask for, and why: the step inputs it sets itself, or leaves to their default. */
  const NOT_ASKED: Record<string, string> = {
    [INPUT.agentId]: 'passed from the register step',
    [INPUT.revoke]: 'a composite has no post step: the issue step must not pretend it will revoke',
    [INPUT.dryRun]: 'not offered by the composite'
  }

  it('asks for every input of the two steps but the ones it sets itself, with the same defaults', () => {
    const stepInputs = new Set([...inputsRead(parseRegisterAgent), ...inputsRead(parseIssueToken)])
    expect(Object.keys(yml.inputs).sort()).toEqual([...stepInputs].filter((name) => !(name in NOT_ASKED)).sort())
    for (const [parseInputs, name] of [parseRegisterAgent, parseIssueToken].flatMap((p) => inputsRead(p).map((n) => [p, n] as const))) {
      const input = yml.inputs[name]
      if (!input) continue
      if (requiredInputs(parseInputs).includes(name)) expect({ name, required: input.required }).toEqual({ name, required: true })
      else expect({ name, default: input.default }).toEqual({ name, default: expectedDefault(parseInputs, name) })
    }
  })

  it('passes each of its inputs to the steps that read it as INPUT_* variables, and the agent id from step to step', () => {
    const register = steps[0]!.env
    const issue = steps[1]!.env
    const readBy = (parseInputs: Parser, env: Record<string, string>): void => {
      for (const name of inputsRead(parseInputs).filter((input) => input in yml.inputs))
        expect({ name, passed: env[variable(name)] }).toEqual({ name, passed: `\${{ inputs.${name} }}` })
    }
    readBy(parseRegisterAgent, register)
    readBy(parseIssueToken, issue)
    expect(issue[variable(INPUT.agentId)]).toBe('${{ steps.register.outputs.agent-id }}')
    // No post step in a composite: the issue step must not pretend it will revoke.
    expect(issue[variable(INPUT.revoke)]).toBe('false')
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
