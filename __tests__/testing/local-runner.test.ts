import { afterAll, beforeAll, describe, expect, it } from '@jest/globals'
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { inputVariableName, LocalJob, runAction } from '../../shared/testing/local-runner'
import { evaluateCondition, interpolate, type ExpressionContext } from '../../shared/testing/runner-expressions'
import { parseFileCommand, parseWorkflowCommand } from '../../shared/testing/runner-commands'
import { findLeaks, labelled } from '../../shared/testing/secret-leaks'
import { runWorkflow } from '../../shared/testing/workflow'

// A fake node action with no dependencies: it speaks the runner protocol by hand, the way
// the bundled @actions/core does (file commands + workflow commands on stdout).
const MAIN = `
import { appendFileSync } from 'node:fs'
const put = (file, name, value) => appendFileSync(process.env[file], name + '<<EOF_X\\n' + value + '\\nEOF_X\\n')
const secret = 'sekrit-' + process.env['INPUT_API-URL'].length + '-' + process.env.GITHUB_RUN_ID
console.log('::add-mask::' + secret)
console.log('the secret is ' + secret)
put('GITHUB_OUTPUT', 'token', secret)
put('GITHUB_OUTPUT', 'greeting', 'hello ' + process.env.INPUT_WHO_IS)
put('GITHUB_OUTPUT', 'level', process.env['INPUT_LOG-LEVEL'])
put('GITHUB_OUTPUT', 'node', process.versions.node)
put('GITHUB_OUTPUT', 'has-oidc', String(Boolean(process.env.ACTIONS_ID_TOKEN_REQUEST_URL && process.env.ACTIONS_ID_TOKEN_REQUEST_TOKEN)))
put('GITHUB_OUTPUT', 'repository', process.env.GITHUB_REPOSITORY + '@' + process.env.GITHUB_REF)
put('GITHUB_OUTPUT', 'debug', String(process.env.RUNNER_DEBUG ?? ''))
put('GITHUB_OUTPUT', 'leaked-env', String(process.env.JEST_WORKER_ID ?? '') + String(process.env.NODE_OPTIONS ?? ''))
put('GITHUB_STATE', 'token', secret)
put('GITHUB_ENV', 'EXPORTED', 'from-main')
appendFileSync(process.env.GITHUB_STEP_SUMMARY, '| claim | value |\\n| --- | --- |\\n| repository | ' + process.env.GITHUB_REPOSITORY + ' |\\n')
console.log('::debug::a debug line')
console.log('::warning title=Heads up::careful%0Anow')
console.error('to stderr')
if (process.env.INPUT_FAIL === 'true') {
  console.log('::error::it failed: add permissions: id-token: write%0Asecond line')
  process.exitCode = 1
}
`
const POST = `
console.log('post sees ' + process.env.STATE_token + ' and ' + process.env['INPUT_API-URL'] + ' and ' + process.env.EXPORTED)
`
const ACTION_YML = `
name: fake
inputs:
  api-url:
    required: true
  who is:
    default: world
  log-level:
    default: \${{ runner.os }}-info
  fail:
    default: 'false'
outputs:
  token:
    description: secret
runs:
  using: node24
  main: dist/main.mjs
  post: dist/post.mjs
`
const COMPOSITE_YML = `
name: composite
inputs:
  api-url:
    required: true
  skip-second:
    default: 'false'
outputs:
  token:
    value: \${{ steps.first.outputs.token }}
  combined:
    value: \${{ steps.second.outputs.combined || 'none' }}
runs:
  using: composite
  steps:
    - id: first
      uses: ./fake
      with:
        api-url: \${{ inputs.api-url }}
    - id: second
      if: inputs.skip-second != 'true'
      shell: bash
      env:
        GREETING: \${{ steps.first.outputs.greeting }}
      run: |
        echo "combined=$GREETING from $(basename "\${{ github.action_path }}") on node $(node -p 'process.versions.node.split(".")[0]')" >> "$GITHUB_OUTPUT"
        echo "step saw api-url \${{ inputs.api-url }}"
`

describe('local runner', () => {
  let workspace: string
  const oidc = {
    runnerEnv: () => ({ ACTIONS_ID_TOKEN_REQUEST_URL: 'http://127.0.0.1:9/_runner/idtoken?api-version=2.0', ACTIONS_ID_TOKEN_REQUEST_TOKEN: 'runner-bearer' }),
    runnerClaims: { repository: 'octo/repo', repository_id: '77', ref: 'refs/heads/dev', run_id: '4242' }
  }

  beforeAll(async () => {
    workspace = await mkdtemp(join(tmpdir(), 'local-runner-test-'))
    await mkdir(join(workspace, 'fake', 'dist'), { recursive: true })
    await mkdir(join(workspace, 'combo'), { recursive: true })
    await writeFile(join(workspace, 'fake', 'action.yml'), ACTION_YML)
    await writeFile(join(workspace, 'fake', 'dist', 'main.mjs'), MAIN)
    await writeFile(join(workspace, 'fake', 'dist', 'post.mjs'), POST)
    await writeFile(join(workspace, 'combo', 'action.yml'), COMPOSITE_YML)
  })
  afterAll(() => rm(workspace, { recursive: true, force: true }))

  it('names inputs the way GitHub does', () => {
    expect(inputVariableName('api-url')).toBe('INPUT_API-URL')
    expect(inputVariableName('who is')).toBe('INPUT_WHO_IS')
  })

  it('runs main under Node 24 with inputs, defaults, file commands and the run identity, then post with the state', async () => {
    const run = await runAction({ uses: './fake', id: 'fake', with: { 'api-url': 'http://x' } }, { workspace, oidc })
    expect(run.exitCode).toBe(0)
    expect(run.outcome).toBe('success')
    expect(run.outputs.node?.split('.')[0]).toBe('24')
    expect(run.outputs.greeting).toBe('hello world')
    expect(run.outputs.level).toBe('Linux-info')
    expect(run.outputs['has-oidc']).toBe('true')
    expect(run.outputs.repository).toBe('octo/repo@refs/heads/dev')
    expect(run.outputs.debug).toBe('')
    expect(run.outputs['leaked-env']).toBe('')
    const secret = 'sekrit-8-4242'
    expect(run.outputs.token).toBe(secret)
    expect(run.state.token).toBe(secret)
    expect(run.masks).toEqual([secret])
    expect(run.exportedEnv).toEqual({ EXPORTED: 'from-main' })
    expect(run.summary).toContain('| repository | octo/repo |')
    expect(run.warnings).toEqual(['careful\nnow'])
    expect(run.debug).toEqual(['a debug line'])
    expect(run.stdout).toContain(`::add-mask::${secret}`)
    expect(run.stderr).toBe('to stderr\n')
    expect(run.log).toContain('the secret is ***')
    expect(run.log).toContain('Warning: careful\nnow')
    expect(run.log).not.toContain('a debug line')
    expect(run.log).not.toContain(secret)
    expect(run.post?.phase).toBe('post')
    expect(run.post?.log).toBe('post sees *** and http://x and from-main\n')
    expect(run.post?.stdout).toContain(`post sees ${secret}`)
  })

  it('shows ::debug:: lines and sets RUNNER_DEBUG when step debug is on', async () => {
    const run = await runAction({ uses: './fake', with: { 'api-url': 'http://x' } }, { workspace, debug: true })
    expect(run.outputs.debug).toBe('1')
    expect(run.log).toContain('##[debug]a debug line')
  })

  it('leaves the id-token variables out for a job without id-token: write', async () => {
    const run = await runAction({ uses: './fake', with: { 'api-url': 'http://x' } }, { workspace })
    expect(run.outputs['has-oidc']).toBe('false')
    expect(run.outputs.repository).toBe('acme/widgets@refs/heads/main')
  })

  it('reports a failed step with its exit code and unescaped error annotations, and still runs post', async () => {
    const run = await runAction({ uses: './fake', with: { 'api-url': 'http://x', fail: 'true' } }, { workspace })
    expect(run.exitCode).toBe(1)
    expect(run.outcome).toBe('failure')
    expect(run.errors).toEqual(['it failed: add permissions: id-token: write\nsecond line'])
    expect(run.log).toContain('Error: it failed: add permissions: id-token: write')
    expect(run.log).toContain('Error: Process completed with exit code 1.')
    expect(run.post?.exitCode).toBe(0)
  })

  it('skips steps after a failed one unless their if: says always(), like GitHub', async () => {
    const job = await LocalJob.start({ workspace })
    const failed = await job.runStep({ uses: './fake', id: 'a', with: { 'api-url': 'http://x', fail: 'true' } })
    const skipped = await job.runStep({ uses: './fake', id: 'b', with: { 'api-url': 'http://x' } })
    const always = await job.runStep({ uses: './fake', id: 'c', if: "always() && steps.a.outcome == 'failure'", with: { 'api-url': 'http://x' } })
    expect([failed.outcome, skipped.outcome, always.outcome]).toEqual(['failure', 'skipped', 'success'])
    expect(job.status).toBe('failure')
    expect(await job.end()).toHaveLength(2)
    const tolerant = await LocalJob.start({ workspace })
    await tolerant.runStep({ uses: './fake', continueOnError: true, with: { 'api-url': 'http://x', fail: 'true' } })
    expect((await tolerant.runStep({ uses: './fake', with: { 'api-url': 'http://x' } })).outcome).toBe('success')
    await tolerant.end()
  })

  it('runs the bundle under Node 20 when asked (the machines runtime)', async () => {
    const run = await runAction({ uses: './fake', with: { 'api-url': 'http://x' } }, { workspace, runtime: 'node20' })
    expect(run.outputs.node?.split('.')[0]).toBe('20')
  })

  it('runs a composite action: expressions over inputs, inner step outputs and action_path; posts of inner steps at job end', async () => {
    const job = await LocalJob.start({ workspace })
    const run = await job.runStep({ uses: './combo', id: 'combo', with: { 'api-url': 'http://y' } })
    expect(run.outcome).toBe('success')
    expect(run.steps).toHaveLength(2)
    expect(run.outputs.token).toBe('sekrit-8-1000001')
    expect(run.outputs.combined).toBe('hello world from combo on node 24')
    expect(run.log).toContain('step saw api-url http://y')
    expect(run.log).not.toContain('sekrit-8-1000001')
    const { outputs, skipped } = job.jobOutputs({ token: '${{ steps.combo.outputs.token }}', combined: '${{ steps.combo.outputs.combined }}' })
    expect(outputs).toEqual({ combined: 'hello world from combo on node 24' })
    expect(skipped).toEqual(['token'])
    const posts = await job.end()
    expect(posts.map((post) => post.log)).toEqual(['post sees *** and http://y and from-main\n'])
  })

  it('skips a composite step whose if: is false', async () => {
    const run = await runAction({ uses: './combo', with: { 'api-url': 'http://y', 'skip-second': 'true' } }, { workspace })
    expect(run.steps).toHaveLength(1)
    expect(run.outputs.combined).toBe('none')
  })

  it('finds a secret shown unmasked in the log or in a non-secret output', async () => {
    const run = await runAction({ uses: './fake', with: { 'api-url': 'http://x' } }, { workspace })
    const secrets = labelled('token', [run.outputs.token])
    expect(findLeaks(run, secrets, { secretOutputs: ['token'] })).toEqual([])
    const leaky = { ...run, log: `${run.outputs.token}\n${run.log}` }
    expect(findLeaks(leaky, secrets, { secretOutputs: ['token'] })).toEqual([`token #1 appears in ${run.name} (main) log`])
    expect(findLeaks(run, secrets)).toContain(`token #1 appears in ${run.name} (main) output "token"`)
  })
})

const WORKFLOW_YML = `
name: wf
on: push
env:
  GREETING: hello
jobs:
  first:
    runs-on: ubuntu-latest
    outputs:
      who: \${{ steps.say.outputs.who }}
    steps:
      - uses: actions/checkout@v4
      - run: npm ci
      - id: say
        run: echo "who=$GREETING from \${{ github.repository }}" >> "$GITHUB_OUTPUT"
  second:
    needs: first
    runs-on: ubuntu-latest
    permissions:
      id-token: write
    env:
      WHO: \${{ needs.first.outputs.who }}
    steps:
      - id: fake
        uses: ./fake
        with:
          api-url: \${{ needs.first.outputs.who }}
      - id: broken
        continue-on-error: true
        run: exit 3
      - run: test "\${{ steps.broken.outcome }}" = failure && test "$WHO" = "hello from octo/repo"
  third:
    needs: second
    if: failure()
    runs-on: ubuntu-latest
    steps:
      - run: echo never
`

describe('workflow runner', () => {
  it('runs jobs in needs order, passes outputs, grants id-token per job permissions, and emulates checkout', async () => {
    const workspace = await mkdtemp(join(tmpdir(), 'workflow-test-'))
    try {
      await mkdir(join(workspace, 'fake', 'dist'), { recursive: true })
      await writeFile(join(workspace, 'fake', 'action.yml'), ACTION_YML)
      await writeFile(join(workspace, 'fake', 'dist', 'main.mjs'), MAIN)
      await writeFile(join(workspace, 'fake', 'dist', 'post.mjs'), POST)
      await writeFile(join(workspace, 'wf.yml'), WORKFLOW_YML)
      const oidc = { runnerEnv: () => ({ ACTIONS_ID_TOKEN_REQUEST_URL: 'http://127.0.0.1:9/x', ACTIONS_ID_TOKEN_REQUEST_TOKEN: 't' }) }
      const jobs = await runWorkflow({
        file: join(workspace, 'wf.yml'),
        workspace,
        oidc,
        github: { repository: 'octo/repo' },
        skipRun: (script) => script === 'npm ci'
      })
      expect(jobs.first?.result).toBe('success')
      expect(jobs.first?.outputs).toEqual({ who: 'hello from octo/repo' })
      expect(jobs.first?.steps.map((step) => step.outcome)).toEqual(['emulated', 'emulated', 'success'])
      expect(jobs.second?.result).toBe('success')
      const fake = jobs.second?.steps[0]?.result
      expect(fake?.outputs['has-oidc']).toBe('true')
      expect(fake?.outputs.greeting).toBe('hello world')
      expect(jobs.second?.steps.map((step) => step.outcome)).toEqual(['success', 'failure', 'success'])
      expect(jobs.third?.result).toBe('skipped')
    } finally {
      await rm(workspace, { recursive: true, force: true })
    }
  })
})

describe('runner expressions and commands', () => {
  const context: ExpressionContext = {
    contexts: { inputs: { 'api-url': 'http://a', empty: '' }, steps: { s: { outputs: { id: 'x' } } }, github: {}, env: {} },
    jobSucceeded: true
  }

  it('interpolates paths, defaults with || and string comparison like GitHub', () => {
    expect(interpolate('${{ inputs.api-url }}/v1/${{ steps.s.outputs.id }}', context)).toBe('http://a/v1/x')
    expect(interpolate("${{ inputs.empty || 'fallback' }}", context)).toBe('fallback')
    expect(evaluateCondition("inputs.api-url == 'HTTP://A'", context)).toBe(true)
    expect(evaluateCondition("${{ inputs.empty != '' }}", context)).toBe(false)
    expect(evaluateCondition('always()', { ...context, jobSucceeded: false })).toBe(true)
    expect(evaluateCondition("inputs.api-url != ''", { ...context, jobSucceeded: false })).toBe(false)
    expect(() => interpolate('${{ secrets.X }}', context)).toThrow(/unknown context "secrets"/)
  })

  it('parses workflow commands and heredoc file commands', () => {
    expect(parseWorkflowCommand('::error title=A%3AB,file=x.ts::bad%0Athing')).toEqual({
      command: 'error',
      properties: { title: 'A:B', file: 'x.ts' },
      data: 'bad\nthing'
    })
    expect(parseWorkflowCommand('plain :: text')).toBeUndefined()
    expect(parseFileCommand('a=1\nb<<D\nline1\nline2\nD\n', 'GITHUB_OUTPUT')).toEqual({ a: '1', b: 'line1\nline2' })
  })
})
