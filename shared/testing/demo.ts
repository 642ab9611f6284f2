/**
 * `npm run demo`: the whole path a user meets, offline, in one command after `npm ci`.
 * Starts a local OIDC issuer (standing in for GitHub's) and the reference server on its
 * embedded database in a temporary folder, creates the trust policies an operator would,
 * then runs the committed bundles (dist/) like GitHub's runner does, in two jobs, and prints
 * what a user would see: each step's log (secrets masked), its outputs and its job summary.
 * Everything it started or created is removed at the end, on failure and on Ctrl-C too.
 */
import { execFile } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { AdminApi } from './admin-api'
import { LocalJob, type ActionRun, type StepResult, type StepRun } from './local-runner'
import { node24Path } from './node24'
import { githubClaims, LocalOidcIssuer, type GitHubClaims } from './oidc-issuer'
import { findLeaksInAll, labelled } from './secret-leaks'
import { startServerProcess, type ServerProcess } from './server-process'

const REPO_ROOT = fileURLToPath(new URL('../..', import.meta.url))
const REPOSITORY = { repository: 'acme/widgets', repositoryId: '123456789', ownerId: '4242', ref: 'refs/heads/main' }
const AGENT_NAME = 'release-bot@acme.example'
const SECRET_OUTPUTS = ['access-token', 'token']

const print = (text = ''): void => void process.stdout.write(text + '\n')
const indent = (text: string, prefix = '    '): string =>
  text
    .replace(/\s+$/, '')
    .split('\n')
    .map((line) => (line === '' ? '' : prefix + line))
    .join('\n')

function heading(title: string): void {
  print()
  print('='.repeat(78))
  print(title)
  print('='.repeat(78))
}

function subheading(title: string): void {
  print()
  print(`--- ${title} ${'-'.repeat(Math.max(3, 74 - title.length))}`)
}

/** Set on Ctrl-C: whatever fails afterwards is the interrupt's doing. */
let interrupted = false

/** Thrown when the demo sees something other than what it shows off. */
class DemoExpectation extends Error {}

function expectThat(condition: boolean, what: string): void {
  if (!condition) throw new DemoExpectation(`unexpected: ${what}`)
}

/** A job in the demo: runs steps with the job's identity and prints them as a user sees them. */
class DemoJob {
  private count = 0
  private constructor(
    readonly job: LocalJob,
    private readonly claims: GitHubClaims,
    private readonly issuer: LocalOidcIssuer
  ) {}

  static async start(name: string, issuer: LocalOidcIssuer, jobs: LocalJob[]): Promise<DemoJob> {
    const claims = githubClaims(REPOSITORY)
    const job = await LocalJob.start({
      workspace: REPO_ROOT,
      oidc: { runnerEnv: () => issuer.runnerEnv(), runnerClaims: claims },
      github: { job: name }
    })
    jobs.push(job)
    return new DemoJob(job, claims, issuer)
  }

  async step(title: string, step: StepRun): Promise<ActionRun> {
    this.issuer.runnerClaims = this.claims
    subheading(`step ${++this.count}: ${title}`)
    print(`  uses: ${step.uses}`)
    for (const [key, value] of Object.entries(step.with ?? {})) print(`    ${key}: ${value}`)
    const run = await this.job.runStep(step)
    this.show(run)
    return run
  }

  /** Prints what a step printed, what it set, and its job summary. */
  show(run: StepResult): void {
    print('  log:')
    print(indent(run.log || '(nothing)'))
    const outputs = Object.entries(run.outputs)
    if (outputs.length > 0) {
      print('  outputs:')
      // Shown as GitHub would echo them: masked values are ***.
      for (const [key, value] of outputs) print(`    ${key} = ${this.job.masker.mask(value) || "''"}`)
    }
    if (run.summary.trim() !== '') {
      print('  job summary:')
      print(indent(this.job.masker.mask(run.summary)))
    }
    print(`  => ${run.outcome} (${(run.durationMs / 1000).toFixed(1)} s)`)
  }

  /** The job ends: GitHub runs the post steps. */
  async end(): Promise<StepResult[]> {
    this.issuer.runnerClaims = this.claims
    const posts = await this.job.end()
    for (const post of posts) {
      subheading(post.name)
      this.show(post)
    }
    return posts
  }
}

/** One statement through the workspace SQL API, as a later workflow step would send it with curl. */
interface SqlAnswer {
  status: number
  body: { success?: boolean; code?: string; data?: { columns: string[]; rows: unknown[][]; rowsWritten: number } }
}

async function sql(url: string, token: string, statement: string, params?: unknown[]): Promise<SqlAnswer> {
  const res = await fetch(`${url}/query`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify(params === undefined ? { sql: statement } : { sql: statement, params })
  })
  return { status: res.status, body: (await res.json()) as SqlAnswer['body'] }
}

/** A query answer's rows, one line each. */
function printRows(body: SqlAnswer['body']): void {
  const data = body.data ?? { columns: [], rows: [] }
  print(`    ${data.columns.join(' | ')}`)
  for (const row of data.rows) print(`    ${row.map((value) => JSON.stringify(value)).join(' | ')}`)
}

function note(text: string): void {
  print()
  print(indent(text, '  # '))
}

async function main(): Promise<void> {
  const cleanups: Array<() => Promise<unknown>> = []
  const jobs: LocalJob[] = []
  // One clean-up, however many callers (the signal handler and the finally below) wait for it.
  let cleaning: Promise<void> | undefined
  const cleanUp = (): Promise<void> =>
    (cleaning ??= (async () => {
      for (const job of jobs) await job.end().catch(() => undefined)
      for (const cleanup of cleanups.reverse()) await cleanup().catch(() => undefined)
    })())
  const onSignal = (signal: NodeJS.Signals): void => {
    interrupted = true
    print(`\n${signal}: cleaning up`)
    void cleanUp().then(() => process.exit(130))
  }
  process.once('SIGINT', onSignal)
  process.once('SIGTERM', onSignal)

  // Every temporary folder (the server's data dir, the runner's RUNNER_TEMP) is made under one
  // folder of the demo's own, removed last: an interrupt at any moment leaves nothing behind.
  const root = await mkdtemp(join(tmpdir(), 'federate-demo-'))
  cleanups.push(() => rm(root, { recursive: true, force: true }))
  process.env.TMPDIR = root

  try {
    await run(cleanups, jobs)
  } finally {
    await cleanUp()
  }
}

async function run(cleanups: Array<() => Promise<unknown>>, jobs: LocalJob[]): Promise<void> {
  heading('federate demo: GitHub OIDC -> short-lived credentials, with no stored secret')
  print("Everything runs on this machine: a local stand-in for GitHub's OIDC issuer, the")
  print("reference server, and the committed action bundles (dist/) run the way GitHub's")
  print('runner runs them (separate Node 24 processes, INPUT_* variables, GITHUB_OUTPUT, masks).')

  heading('Setting up (what the operator does once)')
  const node = await node24Path()
  const version = (await promisify(execFile)(node, ['--version'])).stdout.trim()
  print(`Node for the actions (runs.using: node24): ${version}`)

  const issuer = await LocalOidcIssuer.start()
  cleanups.push(() => issuer.close())
  print(`OIDC issuer (stands in for token.actions.githubusercontent.com): ${issuer.url}`)

  const server: ServerProcess = await startServerProcess({ issuerUrl: issuer.url })
  cleanups.push(() => server.stop())
  print(`reference server (npm run server): ${server.url}`)
  print(`  embedded database in ${server.dataDir} (removed at the end)`)
  print(`  trusts the issuer above (OIDC_ISSUERS), audience for agents = ${server.url}`)
  const admin = new AdminApi(server.url, server.adminToken)
  const apiUrl = server.url

  const bootstrap = await admin.createTrustPolicy({ repository: REPOSITORY.repository, branch: 'main' })
  print(`trust policy ${bootstrap.id}:`)
  print(`  ${REPOSITORY.repository} on branch main may register agents`)

  heading(`Job 1 "setup": ${REPOSITORY.repository}, ${REPOSITORY.ref}, push, permissions: id-token: write`)
  const job1 = await DemoJob.start('setup', issuer, jobs)

  const register = await job1.step('register the agent', {
    uses: './register-agent',
    id: 'register',
    with: { 'api-url': apiUrl, 'agent-name': AGENT_NAME, 'agent-description': 'ships releases' }
  })
  expectThat(register.outcome === 'success' && register.outputs.created === 'true', 'register-agent did not register')
  const agentId = register.outputs['agent-id'] ?? ''

  const agentPolicy = await admin.createTrustPolicy({ repository: REPOSITORY.repository, branch: 'main', agentId })
  note(`operator: trust policy ${agentPolicy.id} lets ${REPOSITORY.repository} (main) act as agent ${agentId}`)

  const issue = await job1.step('issue a token for the agent', {
    uses: './issue-token',
    id: 'token',
    with: { 'api-url': apiUrl, 'agent-id': agentId }
  })
  expectThat(issue.outcome === 'success', 'issue-token failed')
  const accessToken = issue.outputs['access-token'] ?? ''
  const introspection = await admin.introspect(accessToken)
  expectThat(introspection.active === true, 'the issued token is not active')
  note(
    `a later step uses the token; the server knows it (introspection): active=${introspection.active}, ` +
      `sub=${String(introspection.sub)}, scope=${String(introspection.scope)}`
  )

  const composite = await job1.step('the same in one step (composite ./agent)', {
    uses: './agent',
    id: 'agent',
    with: { 'api-url': apiUrl, 'agent-name': AGENT_NAME, ttl: '300' }
  })
  expectThat(composite.outcome === 'success' && composite.outputs['agent-id'] === agentId, 'the composite action did not find the agent')

  const federate = await job1.step('self sign-up: a workspace for this repository', {
    uses: './federate',
    id: 'federate',
    with: { 'api-url': apiUrl }
  })
  expectThat(federate.outcome === 'success' && federate.outputs.created === 'true', 'federate did not create a workspace')
  const again = await job1.step('federate again (idempotent: same workspace, fresh token)', {
    uses: '.',
    id: 'federate-again',
    with: { 'api-url': apiUrl }
  })
  expectThat(again.outputs.created === 'false' && again.outputs.namespace === federate.outputs.namespace, 'federate is not idempotent')
  const opened = await fetch(again.outputs.url ?? '', { headers: { authorization: `Bearer ${again.outputs.token ?? ''}` } })
  const openedBody = await opened.text()
  expectThat(opened.status === 200, `GET url answered ${opened.status}`)
  note(`GET ${again.outputs.url} with the workspace token -> ${opened.status} ${openedBody}`)

  subheading("a later step uses the workspace's own database (POST <url>/query with the token)")
  const dbUrl = again.outputs.url ?? ''
  const dbToken = again.outputs.token ?? ''
  const table = await sql(
    dbUrl,
    dbToken,
    'CREATE TABLE IF NOT EXISTS notes (id serial PRIMARY KEY, job text NOT NULL, body text NOT NULL, at timestamptz NOT NULL DEFAULT now())'
  )
  expectThat(table.status === 200, `CREATE TABLE answered ${table.status} ${JSON.stringify(table.body)}`)
  print('  CREATE TABLE notes (...) -> 200')
  const inserted = await sql(dbUrl, dbToken, 'INSERT INTO notes (job, body) VALUES ($1, $2), ($1, $3) RETURNING id, body', ['setup', 'schema migrated', 'seed data loaded'])
  expectThat(inserted.status === 200 && inserted.body.data?.rowsWritten === 2, `INSERT answered ${inserted.status} ${JSON.stringify(inserted.body)}`)
  print(`  INSERT INTO notes ... RETURNING id, body -> ${inserted.status}, rowsWritten=${inserted.body.data?.rowsWritten}`)
  printRows(inserted.body)

  const { outputs: needs } = job1.job.jobOutputs({
    'agent-id': '${{ steps.register.outputs.agent-id }}',
    url: '${{ steps.federate.outputs.url }}',
    namespace: '${{ steps.federate.outputs.namespace }}'
  })
  await job1.end()
  const afterPost = await admin.introspect(accessToken)
  expectThat(afterPost.active === false, 'the post step did not revoke the token')
  note(`after the job: the token issue-token handed out is revoked (introspection: active=${afterPost.active})`)

  heading('Job 2 "deploy" (needs: setup): gets its own tokens from job 1\'s outputs')
  print('jobs.setup.outputs (secrets never cross jobs, only these):')
  for (const [key, value] of Object.entries(needs)) print(`  ${key} = ${value}`)
  const job2 = await DemoJob.start('deploy', issuer, jobs)
  const issue2 = await job2.step('issue a token for needs.setup.outputs.agent-id', {
    uses: './issue-token',
    id: 'token',
    with: { 'api-url': apiUrl, 'agent-id': needs['agent-id'] ?? '' }
  })
  expectThat(issue2.outcome === 'success', 'issue-token in job 2 failed')
  const federate2 = await job2.step('federate: the same workspace as job 1', {
    uses: './federate',
    id: 'federate',
    with: { 'api-url': apiUrl }
  })
  expectThat(federate2.outputs.namespace === needs.namespace, 'job 2 reached another workspace')
  const opened2 = await fetch(needs.url ?? '', { headers: { authorization: `Bearer ${federate2.outputs.token ?? ''}` } })
  expectThat(opened2.status === 200, `GET needs.setup.outputs.url answered ${opened2.status}`)
  note(`GET needs.setup.outputs.url with job 2's workspace token -> ${opened2.status}`)
  const read2 = await sql(needs.url ?? '', federate2.outputs.token ?? '', 'SELECT id, job, body FROM notes ORDER BY id')
  expectThat(read2.status === 200 && read2.body.data?.rows?.length === 2, `job 2 did not read job 1's rows: ${read2.status} ${JSON.stringify(read2.body)}`)
  print("  job 2 reads job 1's rows through its own token: SELECT id, job, body FROM notes ->")
  printRows(read2.body)
  await job2.end()

  heading('Job 3 "intruder": a repository without a trust policy (what a refusal looks like)')
  const intruderClaims = githubClaims({ repository: 'acme/other', repositoryId: '987654321', ownerId: '4242' })
  const job3Local = await LocalJob.start({
    workspace: REPO_ROOT,
    oidc: { runnerEnv: () => issuer.runnerEnv(), runnerClaims: intruderClaims },
    github: { job: 'intruder' }
  })
  jobs.push(job3Local)
  issuer.runnerClaims = intruderClaims
  subheading("step 1: federate acme/other (a workspace of its own), then use that token on acme/widgets' database")
  const otherWorkspace = await job3Local.runStep({ uses: './federate', with: { 'api-url': apiUrl } })
  expectThat(otherWorkspace.outcome === 'success', `federate for acme/other failed: ${otherWorkspace.log}`)
  const crossed = await sql(needs.url ?? '', otherWorkspace.outputs.token ?? '', 'SELECT * FROM notes')
  print(`  POST ${needs.url}/query with acme/other's token -> ${crossed.status} ${JSON.stringify(crossed.body)}`)
  expectThat(crossed.status === 403 && crossed.body.code === 'forbidden', `another repository's token reached the workspace: ${crossed.status}`)
  subheading('step 2: register an agent from acme/other')
  const refused = await job3Local.runStep({
    uses: './register-agent',
    with: { 'api-url': apiUrl, 'agent-name': 'sneaky@acme.example', 'max-attempts': '1' }
  })
  print('  log:')
  print(indent(refused.log))
  print('  job summary:')
  print(indent(refused.summary))
  print(`  => ${refused.outcome}`)
  expectThat(refused.outcome === 'failure', 'a repository without a trust policy was let in')
  await job3Local.end()

  heading('Checks')
  const results = jobs.flatMap((job) => job.results)
  const masked = jobs.flatMap((job) => job.masker.secrets)
  const secrets = [
    ...labelled('OIDC token', issuer.issuedByRunner),
    ...labelled('masked value', masked),
    ...labelled('admin token', [server.adminToken]),
    ...labelled(
      'secret output',
      results.flatMap((result) => SECRET_OUTPUTS.map((name) => result.outputs[name]))
    )
  ]
  const leaks = findLeaksInAll(results, secrets, { secretOutputs: SECRET_OUTPUTS, maskedValues: masked })
  expectThat(leaks.length === 0, `secrets leaked: ${leaks.join('; ')}`)
  print(`${results.length} action processes ran; ${issuer.issuedByRunner.length} OIDC tokens were minted;`)
  print(`${secrets.length} secrets checked: none appears unmasked in any log, summary, output or env file.`)
  print('Demo finished: cleaning up (server, issuer, temporary folders).')
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    if (interrupted) process.exit(130)
    process.stderr.write(`\ndemo failed: ${error instanceof Error ? error.message : String(error)}\n`)
    if (!(error instanceof DemoExpectation) && error instanceof Error && error.stack) process.stderr.write(error.stack + '\n')
    process.exit(1)
  }
)
