/**
 * The end-to-end world: a local OIDC issuer standing in for GitHub, the reference server as a
 * real process on its embedded database, and jobs on the local runner that run the committed
 * bundles under Node 24. After every test it checks that no secret leaked anywhere.
 */
import { afterAll, afterEach, beforeAll, expect, jest } from '@jest/globals'
import { fileURLToPath } from 'node:url'
import { AdminApi } from '../../shared/testing/admin-api'
import { LocalJob, type ActionRun, type JobOptions, type StepResult, type StepRun } from '../../shared/testing/local-runner'
import { githubClaims, LocalOidcIssuer, type GitHubClaims, type RepoIdentity } from '../../shared/testing/oidc-issuer'
import { findLeaksInAll, labelled, type NamedSecret } from '../../shared/testing/secret-leaks'
import { startServerProcess, type ServerProcess } from '../../shared/testing/server-process'

export const REPO_ROOT = fileURLToPath(new URL('../..', import.meta.url))

/** Outputs that are secrets by design (masked, but they are the point of the step). */
export const SECRET_OUTPUTS = ['access-token', 'token']

let identityCounter = 0

/** A fresh repository identity per scenario, so scenarios on one server never interfere. */
export function newIdentity(overrides: Partial<RepoIdentity> = {}): RepoIdentity {
  identityCounter++
  const suffix = `${process.pid}${identityCounter}`
  return {
    repository: `acme/service-${suffix}`,
    repositoryId: `9${suffix}`,
    ownerId: '4242',
    ref: 'refs/heads/main',
    ...overrides
  }
}

/**
 * A job of one workflow run on the local runner. The issuer's runner endpoint mints tokens
 * with `claims` while this job's steps run (a real runner's token describes its own job).
 */
export class E2eJob {
  constructor(
    readonly job: LocalJob,
    readonly claims: GitHubClaims | undefined,
    private readonly issuer: LocalOidcIssuer
  ) {}

  /** Runs one `uses:` step. */
  async run(step: StepRun): Promise<ActionRun> {
    if (this.claims) this.issuer.runnerClaims = this.claims
    return this.job.runStep(step)
  }

  /** Ends the job: post steps run (in reverse order), like the end of a real job. */
  async end(): Promise<StepResult[]> {
    if (this.claims) this.issuer.runnerClaims = this.claims
    return this.job.end()
  }
}

export interface E2eWorld {
  issuer: LocalOidcIssuer
  server: ServerProcess
  admin: AdminApi
  /** The api-url users give the actions. */
  apiUrl: string
  /** Starts a job for an identity; `idToken: false` emulates a job without `id-token: write`. */
  job(identity: RepoIdentity, options?: Omit<JobOptions, 'oidc'> & { idToken?: boolean }): Promise<E2eJob>
  /** Extra secrets a scenario knows about (e.g. tokens it minted itself). */
  addSecrets(label: string, values: Array<string | undefined>): void
}

/**
 * Registers beforeAll/afterAll/afterEach hooks that start and stop the world, and returns
 * it (its fields are filled once beforeAll ran).
 */
export function useE2eWorld(options: { serverEnv?: Record<string, string> } = {}): E2eWorld {
  // A scenario spawns up to a dozen Node 24 processes; on a loaded 2-core machine that can
  // take far longer than jest's 60 s default (no assertion here is about speed).
  jest.setTimeout(240_000)
  const jobs: LocalJob[] = []
  const extraSecrets: NamedSecret[] = []
  const world = {
    addSecrets(label: string, values: Array<string | undefined>) {
      extraSecrets.push(...labelled(label, values))
    },
    async job(identity: RepoIdentity, jobOptions: Omit<JobOptions, 'oidc'> & { idToken?: boolean } = {}) {
      const claims = githubClaims(identity)
      const { idToken = true, ...rest } = jobOptions
      const job = await LocalJob.start({
        workspace: REPO_ROOT,
        ...rest,
        oidc: idToken ? { runnerEnv: () => world.issuer.runnerEnv(), runnerClaims: claims } : null,
        github: { ...runFromIdentity(claims), ...rest.github }
      })
      jobs.push(job)
      return new E2eJob(job, idToken ? claims : undefined, world.issuer)
    }
  } as E2eWorld

  beforeAll(async () => {
    world.issuer = await LocalOidcIssuer.start()
    world.server = await startServerProcess({ issuerUrl: world.issuer.url, env: options.serverEnv, startTimeoutMs: 180_000 })
    world.admin = new AdminApi(world.server.url, world.server.adminToken)
    world.apiUrl = world.server.url
  })

  afterAll(async () => {
    for (const job of jobs.splice(0)) await job.end().catch(() => undefined)
    await world.server?.stop()
    await world.issuer?.close()
  })

  afterEach(async () => {
    if (!world.server) return // beforeAll failed; that failure is reported already
    // End jobs a scenario left open (their post steps are part of what must not leak).
    for (const job of jobs) await job.end()
    const done = jobs.splice(0)
    const results = done.flatMap((job) => job.results)
    const masked = done.flatMap((job) => job.masker.secrets)
    const secrets = [
      ...labelled('OIDC token', world.issuer.issuedByRunner),
      ...labelled('admin token', [world.server.adminToken]),
      ...labelled('masked value', masked),
      ...labelled(
        'secret output',
        results.flatMap((result) => SECRET_OUTPUTS.map((name) => result.outputs[name]))
      ),
      ...extraSecrets
    ]
    const leaks = [
      ...findLeaksInAll(results, secrets, { secretOutputs: SECRET_OUTPUTS, maskedValues: masked }),
      ...done.flatMap((job) => (secrets.some((secret) => job.log.includes(secret.value)) ? [`a secret appears in the job log of ${job.run.repository}`] : []))
    ]
    // The server's own output must not carry tokens either (the admin token is ours to pass).
    const serverOutput = world.server.output()
    for (const secret of secrets) {
      if (secret.value !== world.server.adminToken && serverOutput.includes(secret.value)) leaks.push(`${secret.label} appears in the server's output`)
    }
    extraSecrets.splice(0)
    expect(leaks).toEqual([])
  })

  return world
}

function runFromIdentity(claims: GitHubClaims): JobOptions['github'] {
  return {
    repository: claims.repository,
    repositoryId: claims.repository_id,
    repositoryOwnerId: claims.repository_owner_id,
    ref: claims.ref,
    sha: claims.sha,
    eventName: claims.event_name,
    workflowRef: claims.workflow_ref,
    runId: claims.run_id
  }
}

/** Asserts a step succeeded; on failure jest shows the step's log (secrets masked). */
export function expectSucceeded(run: StepResult | undefined): void {
  expect(run).toBeDefined()
  if (run && (run.outcome !== 'success' || run.errors.length > 0 || run.warnings.length > 0)) {
    const how = run.timedOut ? 'timed out' : `exit code ${run.exitCode ?? run.signal}`
    throw new Error(`${run.name} (${run.phase}) did not succeed cleanly: ${run.outcome}, ${how}\n--- its log (masked) ---\n${run.log}`)
  }
}

/** The step's single failure message (core.setFailed), for "names the fix" assertions. */
export function failureMessage(run: StepResult): string {
  expect(run.outcome).toBe('failure')
  expect(run.errors.length).toBeGreaterThan(0)
  return run.errors.join('\n')
}

/** The job summary as a plain string (markdown/HTML as written by core.summary). */
export function summaryText(run: StepResult): string {
  return run.summary.replace(/<[^>]+>/g, ' ').replace(/\s+/g, ' ')
}
