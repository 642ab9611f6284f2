/**
 * The project's own end-to-end workflow (.github/workflows/e2e.yml) run on the local runner,
 * with the local issuer standing in for GitHub's: its three jobs start the reference server
 * themselves, pass outputs from job 1 to job 2 through an artifact and `needs`, and the
 * must-fail job proves a refusal. So the workflow is known to work before it reaches GitHub.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals'
import { join } from 'node:path'
import { githubClaims, LocalOidcIssuer } from '../../shared/testing/oidc-issuer'
import { freePort } from '../../shared/testing/ports'
import { findLeaksInAll, labelled } from '../../shared/testing/secret-leaks'
import { runWorkflow, type WorkflowJobResult } from '../../shared/testing/workflow'
import { newIdentity, REPO_ROOT, SECRET_OUTPUTS } from './world'

describe('e2e: .github/workflows/e2e.yml on the local runner', () => {
  let issuer: LocalOidcIssuer
  let jobs: Record<string, WorkflowJobResult>

  beforeAll(async () => {
    issuer = await LocalOidcIssuer.start()
    const identity = newIdentity()
    const claims = githubClaims(identity)
    issuer.runnerClaims = claims
    const port = await freePort()
    const origin = `http://127.0.0.1:${port}`
    jobs = await runWorkflow({
      file: join(REPO_ROOT, '.github/workflows/e2e.yml'),
      workspace: REPO_ROOT,
      oidc: issuer,
      github: {
        repository: claims.repository,
        repositoryId: claims.repository_id,
        repositoryOwnerId: claims.repository_owner_id,
        ref: claims.ref,
        eventName: 'push',
        runId: claims.run_id
      },
      env: { OIDC_ISSUERS: issuer.url, PORT: String(port), PUBLIC_URL: origin, API_URL: origin },
      // `npm ci` would reinstall this very checkout's node_modules.
      skipRun: (script) => script.trim() === 'npm ci',
      stepTimeoutMs: 90_000
    })
  }, 400_000)

  afterAll(() => issuer?.close())

  const describeJob = (job: WorkflowJobResult | undefined): unknown =>
    job && { result: job.result, steps: job.steps.map((step) => `${step.name}: ${step.outcome}`), log: job.result === 'success' ? '' : job.log }

  it('job 1 registers, issues, federates and hands non-secret outputs to job 2', () => {
    expect(describeJob(jobs.job1)).toMatchObject({ result: 'success' })
    const outputs = jobs.job1?.outputs ?? {}
    expect(outputs['agent-id']).toMatch(/^[0-9a-f-]{36}$/)
    expect(outputs.url).toContain(`/v1/db/${outputs.namespace}/main`)
  })

  it('job 2 issues its own token from job 1 agent id on the restarted server and reaches the workspace', () => {
    expect(describeJob(jobs.job2)).toMatchObject({ result: 'success' })
    const issued = jobs.job2?.steps.find((step) => step.id === 'token')
    expect(issued?.outcome).toBe('success')
  })

  it("job 2 reads the rows job 1 wrote to the workspace's database, after the restart", () => {
    expect(jobs.job1?.steps.find((step) => step.name === "Write to the workspace's database")?.outcome).toBe('success')
    expect(jobs.job2?.steps.find((step) => step.name === "Job 1's rows are there")?.outcome).toBe('success')
  })

  it('the must-fail job sees its refused step fail and passes', () => {
    expect(describeJob(jobs['must-fail'])).toMatchObject({ result: 'success' })
    const denied = jobs['must-fail']?.steps.find((step) => step.id === 'denied')
    expect(denied?.outcome).toBe('failure')
    expect(denied?.result?.errors.join('\n')).toMatch(/trust polic/i)
  })

  it('no secret shows up unmasked in any job', () => {
    const all = Object.values(jobs)
    const results = all.flatMap((job) => job.job?.results ?? [])
    const masked = all.flatMap((job) => job.job?.masker.secrets ?? [])
    const secrets = [
      ...labelled('OIDC token', issuer.issuedByRunner),
      ...labelled('masked value', masked),
      ...labelled(
        'secret output',
        results.flatMap((result) => SECRET_OUTPUTS.map((name) => result.outputs[name]))
      )
    ]
    expect(issuer.issuedByRunner.length).toBeGreaterThan(5)
    // The workflow keeps its (masked) admin token in GITHUB_ENV for later steps, on purpose.
    expect(findLeaksInAll(results, secrets, { secretOutputs: SECRET_OUTPUTS, maskedValues: masked, allowMaskedEnv: true })).toEqual([])
    for (const job of all) expect(secrets.filter((secret) => job.log.includes(secret.value)).map((secret) => secret.label)).toEqual([])
  })
})
