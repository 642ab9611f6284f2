/**
 * A small local stand-in for GitHub's Actions runner: runs an action from its `action.yml`
 * (node20/node24 `main` + `post`, or composite `run:`/`uses:` steps) as separate processes,
 * with the environment, file commands, OIDC variables and log masking a real job has.
 *
 * Why not an existing tool: `@github/local-action` runs an action's TypeScript *source*
 * in-process with a stubbed `@actions/core`, so it cannot run the committed ncc bundle (which
 * carries its own copy of the toolkit) on Node 24, nor composite actions or post steps;
 * `github-action-ts-run-api` spawns whatever `node` is on PATH, has no composite support and
 * pins old toolkit/yaml majors. What we must prove is "the committed dist/ bundle, as GitHub
 * runs it", so this runner stays small and does exactly that.
 */
import { spawn } from 'node:child_process'
import { randomUUID } from 'node:crypto'
import { existsSync } from 'node:fs'
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { dirname, isAbsolute, join, relative, resolve } from 'node:path'
import { parse as parseYaml } from 'yaml'
import { nodePath, type NodeRuntime } from './node24'
import { parseFileCommand, parseWorkflowCommand, SecretMasker } from './runner-commands'
import { evaluateCondition, interpolate, type ExpressionContext, type ExpressionObject } from './runner-expressions'

/** The parts of action.yml the runner reads. */
export interface ActionDefinition {
  name?: string
  inputs?: Record<string, { description?: string; required?: boolean; default?: string | number | boolean }>
  outputs?: Record<string, { description?: string; value?: string }>
  runs: {
    using: string
    main?: string
    pre?: string
    post?: string
    'post-if'?: string
    steps?: CompositeStep[]
  }
}

export interface CompositeStep {
  id?: string
  name?: string
  if?: string | boolean
  run?: string
  shell?: string
  env?: Record<string, string | number | boolean>
  uses?: string
  with?: Record<string, string | number | boolean>
  'working-directory'?: string
  'continue-on-error'?: boolean
}

/** The workflow run the job belongs to (GITHUB_* variables and the `github` context). */
export interface GitHubRun {
  repository: string
  repositoryId: string
  repositoryOwnerId: string
  ref: string
  sha: string
  eventName: string
  workflow: string
  workflowRef: string
  actor: string
  runId: string
  runNumber: string
  runAttempt: string
  job: string
}

/** Something that provides ACTIONS_ID_TOKEN_REQUEST_URL/_TOKEN (e.g. LocalOidcIssuer). */
export interface IdTokenProvider {
  runnerEnv(): Record<string, string>
  runnerClaims?: Record<string, unknown>
}

export interface JobOptions {
  /** The job's `permissions: id-token: write`: omit (or null) to emulate a job without it. */
  oidc?: IdTokenProvider | null
  /** Overrides of the run's identity; defaults come from the issuer's runner claims. */
  github?: Partial<GitHubRun>
  /** Job-level `env:`. */
  env?: Record<string, string>
  /** ACTIONS_STEP_DEBUG: sets RUNNER_DEBUG=1 and shows ::debug:: lines in the log. */
  debug?: boolean
  /** Run node actions on this runtime instead of their `runs.using` (e.g. node20 smoke tests). */
  runtime?: NodeRuntime
  /** GITHUB_WORKSPACE and the base of `uses: ./path`; default the current directory. */
  workspace?: string
  /** Kill a step's process after this long (default 120 s). */
  stepTimeoutMs?: number
  /** The event payload (`github.event`), e.g. for `if: github.event_name != 'pull_request' || ...`. */
  event?: ExpressionObject
  /** Other contexts a workflow's expressions read (`needs`, `vars`). */
  contexts?: Record<string, ExpressionObject>
}

/** A `run:` step of a job. */
export interface RunStep {
  run: string
  id?: string
  name?: string
  if?: string
  shell?: string
  env?: Record<string, string>
  continueOnError?: boolean
  workingDirectory?: string
}

export interface StepRun {
  /** Folder of the action (holding action.yml), absolute or relative to the workspace. */
  uses: string
  id?: string
  name?: string
  with?: Record<string, string | number | boolean>
  env?: Record<string, string>
  /** The step's `if:`; default success(), so a step after a failed one is skipped, as on GitHub. */
  if?: string
  /** `continue-on-error: true`: a failure does not fail the job. */
  continueOnError?: boolean
}

/** What one phase (pre, main, post) of one action produced. */
export interface StepResult {
  name: string
  phase: 'main' | 'post'
  exitCode: number | null
  signal: NodeJS.Signals | null
  timedOut: boolean
  /** `steps.<id>.outcome`: 'skipped' when the step's `if:` was false. */
  outcome: 'success' | 'failure' | 'skipped'
  /** Raw process output (workflow commands included, nothing masked). */
  stdout: string
  stderr: string
  outputs: Record<string, string>
  state: Record<string, string>
  /** Variables the step exported through GITHUB_ENV. */
  exportedEnv: Record<string, string>
  /** The raw GITHUB_STEP_SUMMARY content the step wrote. */
  summary: string
  /** Values registered with ::add-mask:: by this step. */
  masks: string[]
  errors: string[]
  warnings: string[]
  notices: string[]
  debug: string[]
  /** The step's log as a user sees it: commands interpreted, secrets replaced by ***. */
  log: string
  /** Raw contents of the file-command files, for leak checks. */
  files: { output: string; env: string; state: string; summary: string }
  durationMs: number
}

export interface ActionRun extends StepResult {
  /** Inner steps of a composite action, in order. */
  steps: StepResult[]
}

interface PendingPost {
  name: string
  script: string
  runtime: NodeRuntime
  actionPath: string
  env: Record<string, string>
  state: Record<string, string>
  condition: string
}

interface Line {
  stream: 'stdout' | 'stderr'
  text: string
}

/** The annotation commands: the list of the step result that collects each, and its log label. */
const ANNOTATIONS = {
  error: { list: 'errors', label: 'Error' },
  warning: { list: 'warnings', label: 'Warning' },
  notice: { list: 'notices', label: 'Notice' }
} as const

const DEFAULT_RUN: GitHubRun = {
  repository: 'acme/widgets',
  repositoryId: '123456789',
  repositoryOwnerId: '4242',
  ref: 'refs/heads/main',
  sha: '0'.repeat(40),
  eventName: 'push',
  workflow: 'CI',
  workflowRef: 'acme/widgets/.github/workflows/ci.yml@refs/heads/main',
  actor: 'octocat',
  runId: '1000001',
  runNumber: '1',
  runAttempt: '1',
  job: 'build'
}

function runFromClaims(claims: Record<string, unknown> | undefined): Partial<GitHubRun> {
  if (!claims) return {}
  const text = (name: string): string | undefined => (typeof claims[name] === 'string' ? claims[name] : undefined)
  const entries: Array<[keyof GitHubRun, string | undefined]> = [
    ['repository', text('repository')],
    ['repositoryId', text('repository_id')],
    ['repositoryOwnerId', text('repository_owner_id')],
    ['ref', text('ref')],
    ['sha', text('sha')],
    ['eventName', text('event_name')],
    ['workflow', text('workflow')],
    ['workflowRef', text('workflow_ref')],
    ['actor', text('actor')],
    ['runId', text('run_id')],
    ['runNumber', text('run_number')],
    ['runAttempt', text('run_attempt')]
  ]
  return Object.fromEntries(entries.filter(([, value]) => value !== undefined))
}

/** GitHub's input variable name: INPUT_ + name uppercased, spaces to underscores, dashes kept. */
export function inputVariableName(name: string): string {
  return `INPUT_${name.replace(/ /g, '_').toUpperCase()}`
}

/** Reads and checks an action.yml (or action.yaml) in a folder. */
export async function readActionDefinition(actionPath: string): Promise<ActionDefinition> {
  const file = ['action.yml', 'action.yaml'].map((name) => join(actionPath, name)).find((path) => existsSync(path))
  if (!file) throw new Error(`no action.yml in ${actionPath}`)
  const definition = parseYaml(await readFile(file, 'utf8')) as ActionDefinition
  if (!definition?.runs?.using) throw new Error(`${file}: runs.using is missing`)
  return definition
}

/**
 * One job on the local runner: steps share RUNNER_TEMP, exported env, the secret masker and
 * the `steps` context; `end()` runs the registered post steps in reverse order, like the
 * "Post" steps at the end of a real job, then removes the job's temporary files.
 */
export class LocalJob {
  readonly run: GitHubRun
  /** Every value any step masked so far (the runner's masker is job-wide). */
  readonly masker = new SecretMasker()
  /** The job's log as a user sees it, with step headers. */
  log = ''
  /** `steps.<id>` of the job. */
  readonly steps: Record<string, { outputs: Record<string, string>; outcome: string }> = {}
  /** Results of every phase run so far, in order. */
  readonly results: StepResult[] = []
  private readonly exportedEnv: Record<string, string> = {}
  /** The job's `env:` (from JobOptions.env; a workflow runner fills it once it is evaluated). */
  readonly jobEnv: Record<string, string>
  private readonly pendingPosts: PendingPost[] = []
  /** Process groups of the steps: a real runner kills what they left running at job end. */
  private readonly processGroups = new Set<number>()
  private succeeded = true
  private stepCount = 0
  private ended = false

  private constructor(
    private readonly options: JobOptions,
    readonly temp: string,
    readonly workspace: string
  ) {
    this.run = { ...DEFAULT_RUN, ...runFromClaims(options.oidc?.runnerClaims), ...options.github }
    this.jobEnv = { ...options.env }
  }

  /** Creates the job's RUNNER_TEMP and event file. */
  static async start(options: JobOptions = {}): Promise<LocalJob> {
    const temp = await mkdtemp(join(tmpdir(), 'local-runner-'))
    const workspace = resolve(options.workspace ?? process.cwd())
    const job = new LocalJob(options, temp, workspace)
    await mkdir(join(temp, '_runner_file_commands'), { recursive: true })
    await writeFile(join(temp, 'event.json'), JSON.stringify({ repository: { full_name: job.run.repository, id: Number(job.run.repositoryId) }, ref: job.run.ref }))
    return job
  }

  /** Whether every step so far succeeded (the job's status). */
  get status(): 'success' | 'failure' {
    return this.succeeded ? 'success' : 'failure'
  }

  /** Runs one `uses:` step (a local action folder) and returns what it produced. */
  async runStep(step: StepRun): Promise<ActionRun> {
    if (this.ended) throw new Error('the job has ended')
    const actionPath = this.resolveAction(step.uses)
    const name = step.name ?? `Run ${displayPath(this.workspace, actionPath)}`
    if (!evaluateCondition(step.if, this.expressionContext({}, this.steps))) {
      const skipped = skippedResult(name)
      if (step.id) this.steps[step.id] = { outputs: {}, outcome: 'skipped' }
      return skipped
    }
    this.log += this.masker.mask(`##[group]${name}\n${formatWith(step.with)}##[endgroup]\n`)
    const result = await this.runAction(actionPath, name, step.with ?? {}, step.env ?? {})
    if (step.id) this.steps[step.id] = { outputs: result.outputs, outcome: result.outcome }
    if (result.outcome === 'failure' && !step.continueOnError) this.succeeded = false
    return result
  }

  /**
   * The job's `outputs:` as GitHub hands them to a dependent job: expressions over `steps`,
   * and, like GitHub, an output that contains a masked value is dropped with a warning.
   */
  jobOutputs(spec: Record<string, string>): { outputs: Record<string, string>; skipped: string[] } {
    const outputs: Record<string, string> = {}
    const skipped: string[] = []
    const context = this.expressionContext({}, this.steps)
    for (const [name, template] of Object.entries(spec)) {
      const value = interpolate(template, context)
      if (this.masker.containsSecret(value)) {
        skipped.push(name)
        this.log += `Warning: Skip output '${name}' since it may contain secret.\n`
      } else {
        outputs[name] = value
      }
    }
    return { outputs, skipped }
  }

  /** Runs the post steps (reverse order) and removes the job's temporary folder. */
  async end(): Promise<StepResult[]> {
    if (this.ended) return []
    this.ended = true
    const results: StepResult[] = []
    try {
      for (const post of [...this.pendingPosts].reverse()) {
        if (!evaluateCondition(post.condition, this.expressionContext({}, this.steps))) continue
        this.log += `##[group]${post.name}\n##[endgroup]\n`
        const stateEnv = Object.fromEntries(Object.entries(post.state).map(([key, value]) => [`STATE_${key}`, value]))
        const result = await this.runNode(post.name, 'post', post.script, post.runtime, post.actionPath, {
          ...post.env,
          ...stateEnv
        })
        results.push(result)
      }
    } finally {
      this.killLeftovers()
      await rm(this.temp, { recursive: true, force: true })
    }
    return results
  }

  /**
   * Runs a job-level `run:` step (expressions are evaluated here, like the runner does
   * before handing the script to the shell).
   */
  async runScript(step: RunStep): Promise<StepResult> {
    if (this.ended) throw new Error('the job has ended')
    const context = this.expressionContext({}, this.steps)
    const name = step.name ?? `Run ${step.run.split('\n')[0]}`
    if (!evaluateCondition(step.if, context)) {
      if (step.id) this.steps[step.id] = { outputs: {}, outcome: 'skipped' }
      return skippedResult(name)
    }
    const script = interpolate(step.run, context)
    const env = mapValues(step.env ?? {}, (value) => interpolate(String(value), context))
    const cwd = step.workingDirectory ? resolve(this.workspace, interpolate(step.workingDirectory, context)) : this.workspace
    this.log += this.masker.mask(`##[group]${name}\n${script.replace(/\s+$/, '')}\n##[endgroup]\n`)
    const result = await this.runShell(name, script, step.shell ?? 'bash', this.workspace, env, cwd)
    if (step.id) this.steps[step.id] = { outputs: result.outputs, outcome: result.outcome }
    if (result.outcome === 'failure' && !step.continueOnError) this.succeeded = false
    return result
  }

  /** Evaluates `${{ }}` in a string with the job's contexts (for a workflow's `with:`/`env:`). */
  interpolate(template: string): string {
    return interpolate(template, this.expressionContext({}, this.steps))
  }

  /** Evaluates an `if:` with the job's contexts. */
  condition(condition: string | boolean | undefined): boolean {
    return evaluateCondition(condition, this.expressionContext({}, this.steps))
  }

  private killLeftovers(): void {
    for (const group of this.processGroups) {
      try {
        process.kill(-group, 'SIGKILL')
      } catch {
        // the group is gone already
      }
    }
    this.processGroups.clear()
  }

  private resolveAction(uses: string): string {
    const path = isAbsolute(uses) ? uses : resolve(this.workspace, uses)
    if (!existsSync(path)) throw new Error(`uses: ${uses}: no such folder (${path})`)
    return path
  }

  private async runAction(actionPath: string, name: string, withInputs: Record<string, string | number | boolean>, stepEnv: Record<string, string>): Promise<ActionRun> {
    const definition = await readActionDefinition(actionPath)
    const inputs = this.resolveInputs(definition, withInputs, actionPath)
    const using = definition.runs.using
    if (using === 'composite') return this.runComposite(definition, actionPath, name, inputs, stepEnv)
    if (!/^node\d+$/.test(using)) throw new Error(`${actionPath}: runs.using "${using}" is not supported here`)
    if (!definition.runs.main) throw new Error(`${actionPath}: runs.main is missing`)
    const runtime = this.options.runtime ?? (using as NodeRuntime)
    const inputEnv = Object.fromEntries(Object.entries(inputs).map(([key, value]) => [inputVariableName(key), value]))
    const env = { ...stepEnv, ...inputEnv }
    const main = await this.runNode(name, 'main', resolve(actionPath, definition.runs.main), runtime, actionPath, env)
    if (definition.runs.post) {
      this.pendingPosts.push({
        name: `Post ${name}`,
        script: resolve(actionPath, definition.runs.post),
        runtime,
        actionPath,
        env,
        state: main.state,
        condition: definition.runs['post-if'] ?? 'always()'
      })
    }
    return { ...main, steps: [] }
  }

  /** Inputs as the runner computes them: given values, else defaults (expressions evaluated). */
  private resolveInputs(definition: ActionDefinition, withInputs: Record<string, string | number | boolean>, actionPath: string): Record<string, string> {
    const inputs: Record<string, string> = {}
    const context = this.expressionContext({}, {}, actionPath)
    for (const [key, spec] of Object.entries(definition.inputs ?? {})) {
      if (spec?.default !== undefined) inputs[key] = interpolate(String(spec.default), context)
    }
    for (const [key, value] of Object.entries(withInputs)) inputs[key] = String(value)
    return inputs
  }

  private async runComposite(
    definition: ActionDefinition,
    actionPath: string,
    name: string,
    inputs: Record<string, string>,
    stepEnv: Record<string, string>
  ): Promise<ActionRun> {
    const started = Date.now()
    const innerSteps: Record<string, { outputs: Record<string, string>; outcome: string }> = {}
    const results: StepResult[] = []
    let succeeded = true
    for (const [index, step] of (definition.runs.steps ?? []).entries()) {
      const context = this.expressionContext(inputs, innerSteps, actionPath, succeeded)
      if (!evaluateCondition(step.if, context)) continue
      const env = { ...stepEnv, ...mapValues(step.env ?? {}, (value) => interpolate(String(value), context)) }
      const stepName = step.name ?? step.id ?? `step ${index + 1}`
      let result: StepResult
      if (step.run !== undefined) {
        const script = interpolate(step.run, context)
        const cwd = step['working-directory'] ? resolve(this.workspace, interpolate(step['working-directory'], context)) : this.workspace
        result = await this.runShell(`${name} / ${stepName}`, script, step.shell ?? 'bash', actionPath, env, cwd)
      } else if (step.uses !== undefined) {
        const withInputs = mapValues(step.with ?? {}, (value) => interpolate(String(value), context))
        const nested = step.uses.startsWith('./') ? resolve(this.workspace, step.uses) : resolve(actionPath, step.uses)
        result = await this.runAction(nested, `${name} / ${stepName}`, withInputs, env)
      } else {
        throw new Error(`${actionPath}: composite step ${stepName} has neither run nor uses`)
      }
      results.push(result)
      if (step.id) innerSteps[step.id] = { outputs: result.outputs, outcome: result.outcome }
      if (result.outcome === 'failure' && !step['continue-on-error']) succeeded = false
    }
    const context = this.expressionContext(inputs, innerSteps, actionPath, succeeded)
    const outputs = mapValues(definition.outputs ?? {}, (spec) => interpolate(spec?.value ?? '', context))
    const failed = results.find((result) => result.outcome === 'failure')
    const concat = (pick: (result: StepResult) => string): string => results.map(pick).join('')
    const all = <T>(pick: (result: StepResult) => T[]): T[] => results.flatMap(pick)
    return {
      name,
      phase: 'main',
      exitCode: succeeded ? 0 : (failed?.exitCode ?? 1),
      signal: failed?.signal ?? null,
      timedOut: results.some((result) => result.timedOut),
      outcome: succeeded ? 'success' : 'failure',
      stdout: concat((result) => result.stdout),
      stderr: concat((result) => result.stderr),
      outputs,
      state: {},
      exportedEnv: Object.fromEntries(results.flatMap((result) => Object.entries(result.exportedEnv))),
      summary: concat((result) => result.summary),
      masks: all((result) => result.masks),
      errors: all((result) => result.errors),
      warnings: all((result) => result.warnings),
      notices: all((result) => result.notices),
      debug: all((result) => result.debug),
      log: concat((result) => result.log),
      files: {
        output: concat((result) => result.files.output),
        env: concat((result) => result.files.env),
        state: concat((result) => result.files.state),
        summary: concat((result) => result.files.summary)
      },
      durationMs: Date.now() - started,
      steps: results
    }
  }

  private expressionContext(
    inputs: Record<string, string>,
    steps: Record<string, { outputs: Record<string, string>; outcome: string }>,
    actionPath?: string,
    succeeded = this.succeeded
  ): ExpressionContext {
    const github: ExpressionObject = {
      repository: this.run.repository,
      repository_id: this.run.repositoryId,
      repository_owner: this.run.repository.split('/')[0] ?? '',
      repository_owner_id: this.run.repositoryOwnerId,
      ref: this.run.ref,
      ref_name: this.run.ref.replace(/^refs\/(heads|tags)\//, ''),
      sha: this.run.sha,
      event_name: this.run.eventName,
      workflow: this.run.workflow,
      workflow_ref: this.run.workflowRef,
      actor: this.run.actor,
      run_id: this.run.runId,
      run_number: this.run.runNumber,
      run_attempt: this.run.runAttempt,
      job: this.run.job,
      workspace: this.workspace,
      server_url: 'https://github.com',
      action_path: actionPath ?? '',
      event: this.options.event ?? {}
    }
    return {
      contexts: {
        ...this.options.contexts,
        inputs,
        steps,
        github,
        env: { ...this.jobEnv, ...this.exportedEnv },
        runner: { temp: this.temp, os: 'Linux', arch: 'X64', debug: this.options.debug ? '1' : '' }
      },
      jobSucceeded: succeeded
    }
  }

  /** The variables every step process gets (a clean set: the test process's env does not leak in). */
  private baseEnv(actionPath: string, nodeDir: string): Record<string, string> {
    const run = this.run
    const env: Record<string, string> = {
      PATH: `${nodeDir}:${process.env.PATH ?? '/usr/bin:/bin'}`,
      HOME: process.env.HOME ?? '/root',
      LANG: 'C.UTF-8',
      CI: 'true',
      GITHUB_ACTIONS: 'true',
      GITHUB_WORKSPACE: this.workspace,
      GITHUB_ACTION_PATH: actionPath,
      GITHUB_REPOSITORY: run.repository,
      GITHUB_REPOSITORY_ID: run.repositoryId,
      GITHUB_REPOSITORY_OWNER: run.repository.split('/')[0] ?? '',
      GITHUB_REPOSITORY_OWNER_ID: run.repositoryOwnerId,
      GITHUB_REF: run.ref,
      GITHUB_REF_NAME: run.ref.replace(/^refs\/(heads|tags)\//, ''),
      GITHUB_REF_TYPE: run.ref.startsWith('refs/tags/') ? 'tag' : 'branch',
      GITHUB_SHA: run.sha,
      GITHUB_EVENT_NAME: run.eventName,
      GITHUB_EVENT_PATH: join(this.temp, 'event.json'),
      GITHUB_WORKFLOW: run.workflow,
      GITHUB_WORKFLOW_REF: run.workflowRef,
      GITHUB_ACTOR: run.actor,
      GITHUB_RUN_ID: run.runId,
      GITHUB_RUN_NUMBER: run.runNumber,
      GITHUB_RUN_ATTEMPT: run.runAttempt,
      GITHUB_JOB: run.job,
      GITHUB_ACTION: `__run_${++this.stepCount}`,
      GITHUB_SERVER_URL: 'https://github.com',
      GITHUB_API_URL: 'https://api.github.com',
      GITHUB_GRAPHQL_URL: 'https://api.github.com/graphql',
      RUNNER_OS: 'Linux',
      RUNNER_ARCH: 'X64',
      RUNNER_NAME: 'local-runner',
      RUNNER_ENVIRONMENT: 'github-hosted',
      RUNNER_TEMP: this.temp,
      RUNNER_TOOL_CACHE: join(this.temp, '_tool'),
      ...(this.options.oidc ? this.options.oidc.runnerEnv() : {}),
      ...(this.options.debug ? { RUNNER_DEBUG: '1' } : {}),
      ...this.jobEnv,
      ...this.exportedEnv
    }
    return env
  }

  private async fileCommands(): Promise<Record<'GITHUB_OUTPUT' | 'GITHUB_ENV' | 'GITHUB_STATE' | 'GITHUB_PATH' | 'GITHUB_STEP_SUMMARY', string>> {
    const dir = join(this.temp, '_runner_file_commands')
    const id = randomUUID()
    const files = {
      GITHUB_OUTPUT: join(dir, `set_output_${id}`),
      GITHUB_ENV: join(dir, `set_env_${id}`),
      GITHUB_STATE: join(dir, `save_state_${id}`),
      GITHUB_PATH: join(dir, `add_path_${id}`),
      GITHUB_STEP_SUMMARY: join(dir, `step_summary_${id}`)
    }
    await Promise.all(Object.values(files).map((file) => writeFile(file, '')))
    return files
  }

  private async runNode(name: string, phase: 'main' | 'post', script: string, runtime: NodeRuntime, actionPath: string, env: Record<string, string>): Promise<StepResult> {
    const node = await nodePath(runtime)
    return this.runProcess(name, phase, node, [script], actionPath, dirname(node), env, this.workspace)
  }

  private async runShell(name: string, script: string, shell: string, actionPath: string, env: Record<string, string>, cwd: string): Promise<StepResult> {
    // `node` in run: steps is the job's runtime (GitHub's images put a Node on PATH).
    const node = await nodePath(this.options.runtime ?? 'node24')
    const file = join(this.temp, `script_${randomUUID()}.sh`)
    await writeFile(file, script)
    const [command, args] = shell === 'bash' ? ['bash', ['--noprofile', '--norc', '-eo', 'pipefail', file]] : shell === 'sh' ? ['sh', ['-e', file]] : [undefined, []]
    if (!command) throw new Error(`shell "${shell}" is not supported by the local runner`)
    return this.runProcess(name, 'main', command, args, actionPath, dirname(node), env, cwd)
  }

  private async runProcess(
    name: string,
    phase: 'main' | 'post',
    command: string,
    args: string[],
    actionPath: string,
    nodeDir: string,
    stepEnv: Record<string, string>,
    cwd: string
  ): Promise<StepResult> {
    const started = Date.now()
    const files = await this.fileCommands()
    const env: Record<string, string> = { ...this.baseEnv(actionPath, nodeDir), ...stepEnv, ...files }
    const { lines, exitCode, signal, timedOut } = await spawnAndCollect(command, args, env, cwd, this.options.stepTimeoutMs ?? 120_000, (group) =>
      this.processGroups.add(group)
    )
    const read = async (file: string): Promise<string> => readFile(file, 'utf8').catch(() => '')
    const raw = {
      output: await read(files.GITHUB_OUTPUT),
      env: await read(files.GITHUB_ENV),
      state: await read(files.GITHUB_STATE),
      summary: await read(files.GITHUB_STEP_SUMMARY)
    }
    const interpreted = this.interpret(lines)
    const outputs = { ...interpreted.outputs, ...parseFileCommand(raw.output, 'GITHUB_OUTPUT') }
    const state = { ...interpreted.state, ...parseFileCommand(raw.state, 'GITHUB_STATE') }
    const exportedEnv = parseFileCommand(raw.env, 'GITHUB_ENV')
    Object.assign(this.exportedEnv, exportedEnv)
    const addedPath = (await read(files.GITHUB_PATH)).split('\n').filter(Boolean)
    if (addedPath.length > 0) this.exportedEnv.PATH = [...addedPath.reverse(), env.PATH].join(':')
    const outcome = exitCode === 0 && !timedOut ? 'success' : 'failure'
    let log = interpreted.log
    if (timedOut) log += `Error: The step was killed after ${this.options.stepTimeoutMs ?? 120_000} ms.\n`
    else if (exitCode !== 0) log += `Error: Process completed with exit code ${exitCode ?? signal}.\n`
    this.log += log
    const result: StepResult = {
      name,
      phase,
      exitCode,
      signal,
      timedOut,
      outcome,
      stdout: lines
        .filter((line) => line.stream === 'stdout')
        .map((line) => line.text + '\n')
        .join(''),
      stderr: lines
        .filter((line) => line.stream === 'stderr')
        .map((line) => line.text + '\n')
        .join(''),
      outputs,
      state,
      exportedEnv,
      summary: raw.summary,
      masks: interpreted.masks,
      errors: interpreted.errors,
      warnings: interpreted.warnings,
      notices: interpreted.notices,
      debug: interpreted.debug,
      log,
      files: raw,
      durationMs: Date.now() - started
    }
    this.results.push(result)
    return result
  }

  /** Interprets workflow commands line by line, in the order the process wrote them. */
  private interpret(lines: Line[]): {
    log: string
    masks: string[]
    errors: string[]
    warnings: string[]
    notices: string[]
    debug: string[]
    outputs: Record<string, string>
    state: Record<string, string>
  } {
    const result = {
      log: '',
      masks: [] as string[],
      errors: [] as string[],
      warnings: [] as string[],
      notices: [] as string[],
      debug: [] as string[],
      outputs: {} as Record<string, string>,
      state: {} as Record<string, string>
    }
    const show = (text: string): void => {
      result.log += this.masker.mask(text) + '\n'
    }
    let stopToken: string | undefined
    for (const { text } of lines) {
      if (stopToken !== undefined) {
        if (text.trim() === `::${stopToken}::`) stopToken = undefined
        else show(text)
        continue
      }
      const command = parseWorkflowCommand(text)
      if (!command) {
        show(text)
        continue
      }
      switch (command.command) {
        case 'add-mask':
          if (command.data.trim() !== '') {
            this.masker.add(command.data)
            result.masks.push(command.data)
          }
          break
        case 'error':
        case 'warning':
        case 'notice': {
          const annotation = ANNOTATIONS[command.command]
          result[annotation.list].push(command.data)
          show(`${annotation.label}: ${command.data}`)
          break
        }
        case 'debug':
          result.debug.push(command.data)
          if (this.options.debug) show(`##[debug]${command.data}`)
          break
        case 'group':
          show(`##[group]${command.data}`)
          break
        case 'endgroup':
          show('##[endgroup]')
          break
        case 'stop-commands':
          stopToken = command.data
          break
        case 'set-output':
          if (command.properties.name) result.outputs[command.properties.name] = command.data
          break
        case 'save-state':
          if (command.properties.name) result.state[command.properties.name] = command.data
          break
        case 'echo':
          break
        default:
          show(text)
      }
    }
    return result
  }
}

function spawnAndCollect(
  command: string,
  args: string[],
  env: Record<string, string>,
  cwd: string,
  timeoutMs: number,
  onGroup: (group: number) => void
): Promise<{ lines: Line[]; exitCode: number | null; signal: NodeJS.Signals | null; timedOut: boolean }> {
  return new Promise((resolvePromise, reject) => {
    // Its own process group, so whatever the step leaves running (`nohup server &`) can be
    // killed at job end, as GitHub's runner does.
    const child = spawn(command, args, { env, cwd, stdio: ['ignore', 'pipe', 'pipe'], detached: true })
    if (child.pid !== undefined) onGroup(child.pid)
    const lines: Line[] = []
    const partial = { stdout: '', stderr: '' }
    let timedOut = false
    const timer = setTimeout(() => {
      timedOut = true
      try {
        process.kill(-(child.pid as number), 'SIGKILL')
      } catch {
        child.kill('SIGKILL')
      }
    }, timeoutMs)
    const collect = (stream: 'stdout' | 'stderr') => (chunk: Buffer) => {
      const parts = (partial[stream] + chunk.toString('utf8')).split(/\r?\n/)
      partial[stream] = parts.pop() ?? ''
      for (const text of parts) lines.push({ stream, text })
    }
    child.stdout.on('data', collect('stdout'))
    child.stderr.on('data', collect('stderr'))
    child.once('error', (error) => {
      clearTimeout(timer)
      reject(error)
    })
    child.once('close', (exitCode, signal) => {
      clearTimeout(timer)
      for (const stream of ['stdout', 'stderr'] as const) if (partial[stream] !== '') lines.push({ stream, text: partial[stream] })
      resolvePromise({ lines, exitCode, signal, timedOut })
    })
  })
}

function skippedResult(name: string): ActionRun {
  return {
    name,
    phase: 'main',
    exitCode: null,
    signal: null,
    timedOut: false,
    outcome: 'skipped',
    stdout: '',
    stderr: '',
    outputs: {},
    state: {},
    exportedEnv: {},
    summary: '',
    masks: [],
    errors: [],
    warnings: [],
    notices: [],
    debug: [],
    log: '',
    files: { output: '', env: '', state: '', summary: '' },
    durationMs: 0,
    steps: []
  }
}

function mapValues<T, U>(object: Record<string, T>, map: (value: T) => U): Record<string, U> {
  return Object.fromEntries(Object.entries(object).map(([key, value]) => [key, map(value)]))
}

function displayPath(workspace: string, actionPath: string): string {
  const path = relative(workspace, actionPath)
  return path === '' ? './' : path.startsWith('..') ? actionPath : `./${path}`
}

function formatWith(inputs: Record<string, unknown> | undefined): string {
  const entries = Object.entries(inputs ?? {})
  if (entries.length === 0) return ''
  return 'with:\n' + entries.map(([key, value]) => `  ${key}: ${String(value)}\n`).join('')
}

/** Runs one action as a one-step job (main, then its post step at job end). */
export async function runAction(step: StepRun, options: JobOptions = {}): Promise<ActionRun & { post: StepResult | undefined; jobLog: string }> {
  const job = await LocalJob.start(options)
  let main: ActionRun
  try {
    main = await job.runStep(step)
  } catch (error) {
    await job.end()
    throw error
  }
  const posts = await job.end()
  return { ...main, post: posts[0], jobLog: job.log }
}
