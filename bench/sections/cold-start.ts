/**
 * 1. Action cold start, per bundle and runtime (Node 24 as GitHub runs them, Node 20):
 *    - start-up alone: load the bundle, fail on the missing required input, exit; vs `node -e 0`.
 *    - the whole successful step against a local server (federate; issue-token's main) vs a
 *      bare node:http script doing the same requests (bench/lib/bare-step.mjs).
 * Runs are interleaved (bundle, reference, bundle, ...) so that machine noise hits both alike.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parse as parseYaml } from 'yaml'
import { LocalOidcIssuer, githubClaims } from '../../shared/testing/oidc-issuer'
import { startBenchServer, type BenchServer } from '../lib/bench-server'
import { timeProcess } from '../lib/proc'
import { fmt, fmtRatio, median } from '../lib/stats'
import type { ResultTable } from '../lib/table'

const ROOT = fileURLToPath(new URL('../..', import.meta.url))
const BARE = fileURLToPath(new URL('../lib/bare-step.mjs', import.meta.url))
export const ACTIONS = ['federate', 'register-agent', 'issue-token'] as const
type ActionName = (typeof ACTIONS)[number]

const STARTUP_TARGET = 2.5
const STEP_TARGET = 1.5

/** Figures measured elsewhere (issue 6); their bundles are not published on the npm registry. */
export const OTHER_ACTIONS: Array<[string, number]> = [
  ['actions/create-github-app-token', 2.6],
  ['google-github-actions/auth', 3.4],
  ['hashicorp/vault-action', 3.5],
  ['aws-actions/configure-aws-credentials', 5.0],
  ['octo-sts/action (no dependencies)', 1.1]
]

function actionYml(action: ActionName): string {
  return join(ROOT, action === 'federate' ? 'action.yml' : `${action}/action.yml`)
}

/** INPUT_* for every input that has a default, as the runner sets them. */
export function inputDefaults(action: ActionName): Record<string, string> {
  const yml = parseYaml(readFileSync(actionYml(action), 'utf8')) as { inputs?: Record<string, { default?: string | number | boolean }> }
  const env: Record<string, string> = {}
  for (const [name, input] of Object.entries(yml.inputs ?? {})) {
    if (input.default !== undefined) env[`INPUT_${name.replace(/ /g, '_').toUpperCase()}`] = String(input.default)
  }
  return env
}

/** A fresh runner-like environment with its own file-command files. */
export function stepEnv(dir: string, extra: Record<string, string>): Record<string, string> {
  const files = {
    GITHUB_OUTPUT: join(dir, 'output'),
    GITHUB_STATE: join(dir, 'state'),
    GITHUB_ENV: join(dir, 'env'),
    GITHUB_PATH: join(dir, 'path'),
    GITHUB_STEP_SUMMARY: join(dir, 'summary')
  }
  for (const file of Object.values(files)) writeFileSync(file, '')
  return {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    HOME: process.env.HOME ?? '/root',
    CI: 'true',
    GITHUB_ACTIONS: 'true',
    GITHUB_REPOSITORY: 'acme/widgets',
    GITHUB_REF: 'refs/heads/main',
    GITHUB_EVENT_NAME: 'push',
    GITHUB_WORKSPACE: dir,
    RUNNER_TEMP: dir,
    ...files,
    ...extra
  }
}

export interface ColdStartOptions {
  runs: number
  runtimes: Array<{ label: string; path: string }>
}

/** A local issuer and server the steps run against, with the runner's repository trusted and an agent for issue-token. */
export interface StepFixture {
  issuer: LocalOidcIssuer
  server: BenchServer
  agentId: string
}

export async function startStepFixture(agentName: string): Promise<StepFixture> {
  const issuer = await LocalOidcIssuer.start()
  const server = await startBenchServer({ issuerUrls: [issuer.url] })
  const claims = issuer.runnerClaims
  // issue-token needs an agent and a policy for it; set up once through the API.
  await server.admin.createTrustPolicy({ repository: claims.repository })
  const bootstrap = await exchange(
    server.url,
    await issuer.mint({
      audience: server.url,
      claims: githubClaims({ repository: claims.repository, repositoryId: claims.repository_id, ownerId: claims.repository_owner_id })
    })
  )
  const agentId = await registerAgent(server.url, bootstrap, agentName)
  await server.admin.createTrustPolicy({ repository: claims.repository, agentId })
  return { issuer, server, agentId }
}

export async function coldStart(table: ResultTable, options: ColdStartOptions): Promise<void> {
  const { issuer, server, agentId } = await startStepFixture('bench-cold@agents.example')
  const scratch = mkdtempSync(join(tmpdir(), 'federate-bench-step-'))
  try {
    let runNo = 0
    const freshDir = (): string => {
      const dir = join(scratch, String(runNo++))
      mkdirSync(dir)
      return dir
    }

    for (const runtime of options.runtimes) {
      // Start-up alone: every bundle and `node -e 0`, interleaved.
      const startup: Record<string, number[]> = { base: [] }
      for (const action of ACTIONS) startup[action] = []
      for (let i = 0; i < options.runs + 1; i++) {
        const base = await timeProcess(runtime.path, ['-e', '0'], { PATH: process.env.PATH ?? '' })
        if (i > 0) startup.base!.push(base.ms) // the first round warms the page cache
        for (const action of ACTIONS) {
          const dir = freshDir()
          const env = stepEnv(dir, { ...inputDefaults(action), ...issuer.runnerEnv() })
          const run = await timeProcess(runtime.path, [join(ROOT, 'dist', action, 'index.js')], env, dir)
          if (run.code === 0 || !/api-url/i.test(run.stdout + run.stderr)) {
            throw new Error(`${action} on ${runtime.label} did not fail on the missing api-url input (exit ${run.code}): ${clean(run.stdout + run.stderr)}`)
          }
          if (i > 0) startup[action]!.push(run.ms)
        }
      }
      const baseMs = median(startup.base!)
      for (const action of ACTIONS) {
        const ms = median(startup[action]!)
        table.add({
          section: `1. cold start (${runtime.label})`,
          metric: `${action}: start-up, fail on missing input`,
          value: `${fmt(ms, 'ms')}`,
          reference: `node -e 0: ${fmt(baseMs, 'ms')}`,
          ratio: fmtRatio(ms / baseMs),
          target: `<= ${STARTUP_TARGET}x`,
          pass: ms / baseMs <= STARTUP_TARGET
        })
      }

      // The whole successful step vs the bare script doing the same requests.
      const steps: Array<{ action: ActionName; kind: 'federate' | 'exchange'; inputs: Record<string, string>; audience: string }> = [
        { action: 'federate', kind: 'federate', inputs: { 'INPUT_API-URL': server.url }, audience: 'persql' },
        { action: 'issue-token', kind: 'exchange', inputs: { 'INPUT_API-URL': server.url, 'INPUT_AGENT-ID': agentId }, audience: server.url }
      ]
      for (const step of steps) {
        const actionMs: number[] = []
        const bareMs: number[] = []
        for (let i = 0; i < options.runs + 1; i++) {
          const dir1 = freshDir()
          const env1 = stepEnv(dir1, { ...inputDefaults(step.action), ...issuer.runnerEnv(), ...step.inputs })
          const run = await timeProcess(runtime.path, [join(ROOT, 'dist', step.action, 'index.js')], env1, dir1)
          if (run.code !== 0 || readFileSync(env1.GITHUB_OUTPUT!, 'utf8').length === 0) {
            throw new Error(`${step.action} on ${runtime.label} failed (exit ${run.code}): ${clean(run.stdout + run.stderr)}`)
          }
          const dir2 = freshDir()
          const env2 = stepEnv(dir2, { ...issuer.runnerEnv(), ...step.inputs, BARE_KIND: step.kind, BARE_AUDIENCE: step.audience })
          const bare = await timeProcess(runtime.path, [BARE], env2, dir2)
          if (bare.code !== 0) throw new Error(`bare ${step.kind} script failed: ${bare.stderr.slice(0, 400)}`)
          if (i > 0) {
            actionMs.push(run.ms)
            bareMs.push(bare.ms)
          }
        }
        const ms = median(actionMs)
        const ref = median(bareMs)
        table.add({
          section: `1. cold start (${runtime.label})`,
          metric: `${step.action}: whole successful step, local server`,
          value: fmt(ms, 'ms'),
          reference: `bare node:http script, same requests: ${fmt(ref, 'ms')}`,
          ratio: fmtRatio(ms / ref),
          target: `<= ${STEP_TARGET}x`,
          pass: ms / ref <= STEP_TARGET
        })
      }
    }
    for (const [name, ratio] of OTHER_ACTIONS) {
      table.add({
        section: '1. cold start (others)',
        metric: `${name}: start-up vs node -e 0`,
        value: 'quoted (issue 6)',
        ratio: fmtRatio(ratio)
      })
    }
  } catch (error) {
    throw new Error(`${(error as Error).message}\n--- server output (tail) ---\n${clean(server.output())}`, { cause: error })
  } finally {
    rmSync(scratch, { recursive: true, force: true })
    await server.stop()
    await issuer.close()
  }
}

/** A step's log for an error message: no mask commands, no JWTs, the last lines only. */
function clean(log: string): string {
  return log
    .split('\n')
    .filter((line) => !line.startsWith('::add-mask::'))
    .join('\n')
    .replace(/eyJ[\w-]+\.[\w-]+\.[\w-]*/g, '<jwt>')
    .slice(-1200)
}

async function exchange(url: string, token: string): Promise<string> {
  const res = await fetch(`${url}/api/v1/oidc/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ provider: 'github', token })
  })
  if (res.status !== 200) throw new Error(`bootstrap exchange: HTTP ${res.status} ${await res.text()}`)
  return ((await res.json()) as { access_token: string }).access_token
}

export async function registerAgent(url: string, bootstrapToken: string, name: string): Promise<string> {
  const res = await fetch(`${url}/api/v1/agents`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${bootstrapToken}` },
    body: JSON.stringify({ name })
  })
  if (res.status !== 201 && res.status !== 200) throw new Error(`register agent: HTTP ${res.status} ${await res.text()}`)
  return ((await res.json()) as { agentId: string }).agentId
}

export { exchange as bootstrapExchange }
