/**
 * README, "Debugging locally": its commands run as written, and GitHub's local-action runs
 * every action's sources against the reference server: register-agent, issue-token with the
 * post step's revocation, federate, and a refusal. The stack (`npm run local-stack`) is the
 * README's own; `.env` is the README's, written at the repository's root (one that was there
 * is put back afterwards); `<agent-id>` is replaced by register-agent's output.
 */
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals'
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { existsSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { waitFor } from '../../shared/testing/wait-for'

jest.setTimeout(300_000)

const root = resolve(import.meta.dirname ?? new URL('.', import.meta.url).pathname, '../..')
const README = readFileSync(join(root, 'README.md'), 'utf8')
const SECTION = README.slice(README.indexOf('### Debugging locally'), README.indexOf('### For contributors'))
const ENV_FILE = join(root, '.env')
const SAVED_ENV_FILE = join(root, `.env.saved-by-local-action-test-${process.pid}`)

/** The lines of the ```<info> block of the section. */
function block(info: string): string[] {
  const match = new RegExp('```' + info + '\\n([\\s\\S]*?)```').exec(SECTION)
  if (!match) throw new Error(`README's "Debugging locally" has no \`\`\`${info} block`)
  return match[1]!.split('\n').filter((line) => line.trim() !== '')
}

/** The children get the environment of a shell, not jest's NODE_OPTIONS. */
const { NODE_OPTIONS: _jestOptions, ...shellEnv } = process.env
const env: Record<string, string | undefined> = { ...shellEnv, CI: 'true' }

/** One README line through bash at the repository's root; `export A=B C=D` lines set env for the lines after. */
function sh(line: string): { status: number | null; output: string } {
  if (line.startsWith('export ')) {
    for (const assignment of line.slice('export '.length).split(/\s+/)) {
      const [name, ...value] = assignment.split('=')
      env[name!] = value.join('=')
    }
    return { status: 0, output: '' }
  }
  const result = spawnSync('bash', ['-c', line], { cwd: root, env, encoding: 'utf8', timeout: 120_000 })
  return { status: result.status, output: `${result.stdout}${result.stderr}` }
}

/** What local-action printed between "Running Action" and "Action Outputs" (its banner and tables left out). */
const ran = (output: string): string => output.slice(output.indexOf('Running Action'), output.indexOf('Action Outputs'))

describe('README "Debugging locally": local-action runs the actions against the reference server', () => {
  let stack: ChildProcess
  let stackOutput = ''
  const commands = block('sh local-action')

  beforeAll(async () => {
    if (existsSync(ENV_FILE)) renameSync(ENV_FILE, SAVED_ENV_FILE)
    const [start] = block('sh local-stack')
    // Its own process group: npm, tsx and the server process are stopped together.
    stack = spawn('bash', ['-c', start!], { cwd: root, env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] })
    stack.stdout!.on('data', (chunk: Buffer) => (stackOutput += chunk.toString('utf8')))
    stack.stderr!.on('data', (chunk: Buffer) => (stackOutput += chunk.toString('utf8')))
    await waitFor(() => /^ready$/m.test(stackOutput) || stack.exitCode !== null, { timeoutMs: 120_000, what: '"ready" from npm run local-stack' })
    expect(stackOutput).toMatch(/^ready$/m)
    writeFileSync(ENV_FILE, block('dotenv').join('\n') + '\n')
  })

  afterAll(async () => {
    if (stack?.pid && stack.exitCode === null) {
      const exited = new Promise((done) => stack.once('exit', done))
      process.kill(-stack.pid, 'SIGTERM')
      await exited
    }
    rmSync(ENV_FILE, { force: true })
    if (existsSync(SAVED_ENV_FILE)) renameSync(SAVED_ENV_FILE, ENV_FILE)
  })

  it('the README names one command per action, with .env', () => {
    expect(commands.filter((line) => line.startsWith('npx local-action run '))).toEqual([
      'npx local-action run ./register-agent main.ts .env',
      'npx local-action run ./issue-token main.ts .env --post "$PWD/issue-token/post.ts"',
      'npx local-action run ./federate main.ts .env'
    ])
  })

  it('runs every command as written: register, trust the agent, issue (revoked by the post step), federate', () => {
    let agentId = ''
    const outputs: Record<string, string> = {}
    for (const written of commands) {
      const line = written.replaceAll('<agent-id>', agentId)
      const { status, output } = sh(line)
      expect({ line, status, error: /^::error::.*/m.exec(output)?.[0] }).toEqual({ line, status: 0, error: undefined })
      outputs[written] = ran(output)
      if (written.includes('./register-agent')) agentId = /^::set-output name=agent-id::([0-9a-f-]{36})$/m.exec(output)?.[1] ?? ''
    }
    expect(agentId).not.toBe('')
    expect(outputs[commands.find((l) => l.includes('./register-agent'))!]).toMatch(/^::set-output name=created::true$/m)
    const issued = outputs[commands.find((l) => l.includes('./issue-token'))!]!
    expect(issued).toMatch(new RegExp(`^::info::Issued a token for agent ${agentId}`, 'm'))
    expect(issued).toMatch(/Running Post Step[\s\S]*^::info::Revoked the access token\.$/m)
    const federated = outputs[commands.find((l) => l.includes('./federate'))!]!
    expect(federated).toMatch(/^::set-output name=identity::acme\/widgets$/m)
    expect(federated).toMatch(/^::set-output name=url::http:\/\/127\.0\.0\.1:8787\/v1\/db\/[^/]+\/main$/m)
  })

  it('a refusal: issue-token for an agent the server does not know fails with its message', () => {
    const refused = join(root, '.env')
    const original = readFileSync(refused, 'utf8')
    try {
      writeFileSync(refused, block('dotenv').join('\n') + '\nINPUT_AGENT-ID=00000000-0000-4000-8000-000000000000\nINPUT_MAX-ATTEMPTS=1\n')
      const { output } = sh('npx local-action run ./issue-token main.ts .env')
      expect(ran(output)).toMatch(/^::error::issue-token: .*refused it with 404 \(agent_not_found/m)
      expect(ran(output)).not.toMatch(/::set-output/)
    } finally {
      writeFileSync(refused, original)
    }
  })
})
