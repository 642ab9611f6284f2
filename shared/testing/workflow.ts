/**
 * Runs a workflow file (.github/workflows/*.yml) on the local runner, so the project's own
 * end-to-end workflow is exercised before it reaches GitHub. Jobs run one after another in
 * `needs` order; each gets the id-token variables only when its `permissions` grant
 * `id-token: write`. Supported: job `if`/`needs`/`outputs`/`env`/`permissions`, `run:` steps,
 * local `uses: ./path` actions, and these GitHub actions, emulated: checkout and setup-node
 * (the workspace is the repository already), upload-artifact / download-artifact (a folder
 * per artifact name). Anything else throws, so an unsupported step is never silently skipped.
 */
import { cp, mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { parse as parseYaml } from 'yaml'
import { LocalJob, type GitHubRun, type IdTokenProvider, type StepResult } from './local-runner'
import { interpolate, type ExpressionObject } from './runner-expressions'

interface WorkflowStep {
  id?: string
  name?: string
  if?: string
  uses?: string
  with?: Record<string, string | number | boolean>
  run?: string
  shell?: string
  env?: Record<string, string | number | boolean>
  'continue-on-error'?: boolean
  'working-directory'?: string
}

interface WorkflowJob {
  name?: string
  needs?: string | string[]
  if?: string
  permissions?: Record<string, string> | string
  env?: Record<string, string | number | boolean>
  outputs?: Record<string, string>
  steps: WorkflowStep[]
}

interface WorkflowFile {
  name?: string
  env?: Record<string, string | number | boolean>
  permissions?: Record<string, string> | string
  jobs: Record<string, WorkflowJob>
}

export interface WorkflowRunOptions {
  /** Path of the workflow file. */
  file: string
  /** The checked-out repository (GITHUB_WORKSPACE). */
  workspace: string
  /** Serves the id-token requests of jobs with `id-token: write`. */
  oidc: IdTokenProvider
  /** The run's identity (GITHUB_REPOSITORY, GITHUB_REF ...). */
  github?: Partial<GitHubRun>
  /** `github.event`. */
  event?: ExpressionObject
  /** Replaces values of the workflow's top-level `env:` (a free port, the local issuer). */
  env?: Record<string, string>
  /** Return true to skip a `run:` step (e.g. `npm ci`, which must not touch the repository). */
  skipRun?: (script: string) => boolean
  stepTimeoutMs?: number
}

export interface WorkflowStepRecord {
  id?: string
  name: string
  outcome: 'success' | 'failure' | 'skipped' | 'emulated'
  result?: StepResult
}

export interface WorkflowJobResult {
  id: string
  result: 'success' | 'failure' | 'skipped'
  outputs: Record<string, string>
  steps: WorkflowStepRecord[]
  /** The job's log as a user sees it (masked). */
  log: string
  job?: LocalJob
}

function hasIdTokenWrite(permissions: WorkflowJob['permissions']): boolean {
  if (permissions === 'write-all') return true
  return typeof permissions === 'object' && permissions['id-token'] === 'write'
}

function order(jobs: Record<string, WorkflowJob>): string[] {
  const done: string[] = []
  const visit = (id: string, path: string[]): void => {
    if (done.includes(id)) return
    if (path.includes(id)) throw new Error(`needs cycle: ${[...path, id].join(' -> ')}`)
    const job = jobs[id]
    if (!job) throw new Error(`needs names an unknown job ${id}`)
    for (const need of [job.needs ?? []].flat()) visit(need, [...path, id])
    done.push(id)
  }
  for (const id of Object.keys(jobs)) visit(id, [])
  return done
}

const stringify = (values: Record<string, string | number | boolean> | undefined): Record<string, string> =>
  Object.fromEntries(Object.entries(values ?? {}).map(([key, value]) => [key, String(value)]))

/** Runs every job of the workflow and returns what each did. */
export async function runWorkflow(options: WorkflowRunOptions): Promise<Record<string, WorkflowJobResult>> {
  const workflow = parseYaml(await readFile(options.file, 'utf8')) as WorkflowFile
  const artifacts = await mkdtemp(join(tmpdir(), 'local-artifacts-'))
  const results: Record<string, WorkflowJobResult> = {}
  try {
    for (const id of order(workflow.jobs)) {
      results[id] = await runJob(id, workflow, options, results, artifacts)
    }
  } finally {
    await rm(artifacts, { recursive: true, force: true })
  }
  return results
}

async function runJob(
  id: string,
  workflow: WorkflowFile,
  options: WorkflowRunOptions,
  previous: Record<string, WorkflowJobResult>,
  artifacts: string
): Promise<WorkflowJobResult> {
  const spec = workflow.jobs[id] as WorkflowJob
  const needIds = [spec.needs ?? []].flat()
  const needs: ExpressionObject = Object.fromEntries(needIds.map((need) => [need, { result: previous[need]?.result ?? 'skipped', outputs: previous[need]?.outputs ?? {} }]))
  const permissions = spec.permissions ?? workflow.permissions
  const base = { ...stringify(workflow.env), ...options.env }
  const job = await LocalJob.start({
    workspace: options.workspace,
    oidc: hasIdTokenWrite(permissions) ? options.oidc : null,
    github: { ...options.github, job: id },
    event: options.event,
    contexts: { needs },
    stepTimeoutMs: options.stepTimeoutMs
  })
  const record: WorkflowJobResult = { id, result: 'success', outputs: {}, steps: [], log: '', job }
  try {
    // A job runs only when its needs succeeded, unless its if: says otherwise.
    const needsOk = needIds.every((need) => previous[need]?.result === 'success')
    const runs = spec.if === undefined ? needsOk : job.condition(spec.if) && (needsOk || /\b(always|failure)\(/.test(spec.if))
    if (!runs) {
      record.result = 'skipped'
      return record
    }
    // Workflow env, then job env (its expressions see github, needs and the workflow env).
    const env = { ...base }
    for (const [key, value] of Object.entries(stringify(spec.env))) {
      env[key] = interpolate(value, { contexts: { github: { workspace: options.workspace, ...toGithub(job) }, needs, env }, jobSucceeded: true })
    }
    Object.assign(job.jobEnv, env)

    for (const [index, step] of spec.steps.entries()) {
      const name = step.name ?? step.uses ?? step.run?.split('\n')[0] ?? `step ${index + 1}`
      const continueOnError = step['continue-on-error'] === true
      const stepEnv = stringify(step.env)
      if (step.run !== undefined) {
        if (options.skipRun?.(step.run)) {
          record.steps.push({ id: step.id, name, outcome: 'emulated' })
          continue
        }
        const result = await job.runScript({
          run: step.run,
          id: step.id,
          name,
          if: step.if,
          shell: step.shell,
          env: stepEnv,
          continueOnError,
          workingDirectory: step['working-directory']
        })
        record.steps.push({ id: step.id, name, outcome: result.outcome, result })
      } else if (step.uses?.startsWith('./') || step.uses === '.') {
        const withInputs = Object.fromEntries(Object.entries(stringify(step.with)).map(([key, value]) => [key, job.interpolate(value)]))
        const env2 = Object.fromEntries(Object.entries(stepEnv).map(([key, value]) => [key, job.interpolate(value)]))
        const result = await job.runStep({ uses: step.uses, id: step.id, name, if: step.if, with: withInputs, env: env2, continueOnError })
        record.steps.push({ id: step.id, name, outcome: result.outcome, result })
      } else if (step.uses !== undefined) {
        if (!job.condition(step.if)) {
          record.steps.push({ id: step.id, name, outcome: 'skipped' })
          continue
        }
        await emulate(step, job, artifacts)
        record.steps.push({ id: step.id, name, outcome: 'emulated' })
      } else {
        throw new Error(`job ${id}: step ${name} has neither run nor uses`)
      }
    }
    record.outputs = job.jobOutputs(spec.outputs ?? {}).outputs
  } finally {
    await job.end()
    record.result = record.result === 'skipped' ? 'skipped' : job.status
    record.log = job.log
  }
  return record
}

function toGithub(job: LocalJob): ExpressionObject {
  return {
    repository: job.run.repository,
    repository_id: job.run.repositoryId,
    repository_owner_id: job.run.repositoryOwnerId,
    run_id: job.run.runId,
    run_attempt: job.run.runAttempt,
    event_name: job.run.eventName,
    ref: job.run.ref
  }
}

async function emulate(step: WorkflowStep, job: LocalJob, artifacts: string): Promise<void> {
  const uses = step.uses ?? ''
  const action = uses.split('@')[0]
  const input = (name: string): string => job.interpolate(String(step.with?.[name] ?? ''))
  switch (action) {
    case 'actions/checkout':
    case 'actions/setup-node':
      // The workspace is the repository, and Node 24 is what the local runner runs.
      job.log += `##[group]${uses}\n(provided by the local runner)\n##[endgroup]\n`
      return
    case 'actions/upload-artifact': {
      const target = join(artifacts, input('name'))
      await cp(resolve(job.workspace, input('path')), target, { recursive: true })
      job.log += `##[group]${uses}\nuploaded ${input('path')} as ${input('name')}\n##[endgroup]\n`
      return
    }
    case 'actions/download-artifact': {
      await cp(join(artifacts, input('name')), resolve(job.workspace, input('path')), { recursive: true })
      job.log += `##[group]${uses}\ndownloaded ${input('name')} to ${input('path')}\n##[endgroup]\n`
      return
    }
    default:
      throw new Error(`the local runner cannot run "uses: ${uses}"`)
  }
}
