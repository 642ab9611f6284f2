// Probe: the whole successful step of one action, interleaved A/B(/C...) against a local server,
// optionally under --cpu-prof. Each variant is a script run with the runner-like env of that
// step (bench/lib/bare-step.mjs reads BARE_*; the bundles read INPUT_*).
//   npx tsx bench/probes/step-ab.ts --node=PATH --step=federate|issue-token --runs=10 [--prof=DIR] a.js b.mjs ...
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, relative, resolve } from 'node:path'
import { pathToFileURL } from 'node:url'
import { timeProcess } from '../lib/proc'
import { median } from '../lib/stats'
import { inputDefaults, startStepFixture, stepEnv } from '../sections/cold-start'

const flag = (name: string, fallback?: string): string | undefined => process.argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3) ?? fallback
const node = flag('node', process.execPath)!
const step = flag('step', 'federate') as 'federate' | 'issue-token'
const runs = Number(flag('runs', '10'))
const prof = flag('prof')
/** A module to --import first (e.g. one that prints timestamps to stderr, shown per run). */
const preload = flag('preload')
const variants = process.argv
  .slice(2)
  .filter((a) => !a.startsWith('--'))
  .map((a) => resolve(a))

const { issuer, server, agentId } = await startStepFixture('step-ab@agents.example')
const scratch = mkdtempSync(join(tmpdir(), 'federate-step-ab-'))
try {
  const inputs: Record<string, string> =
    step === 'federate'
      ? { 'INPUT_API-URL': server.url, BARE_KIND: 'federate', BARE_AUDIENCE: 'persql' }
      : { 'INPUT_API-URL': server.url, 'INPUT_AGENT-ID': agentId, BARE_KIND: 'exchange', BARE_AUDIENCE: server.url }
  const times = variants.map(() => [] as number[])
  let n = 0
  for (let i = 0; i < runs + 1; i++) {
    for (const [v, script] of variants.entries()) {
      const dir = join(scratch, String(n++))
      mkdirSync(dir)
      const env = stepEnv(dir, { ...inputDefaults(step), ...issuer.runnerEnv(), ...inputs })
      const args = [
        ...(prof ? ['--cpu-prof', `--cpu-prof-dir=${prof}`, '--cpu-prof-interval=100'] : []),
        ...(preload ? [`--import=${pathToFileURL(resolve(preload)).href}`] : []),
        script
      ]
      const run = await timeProcess(node, args, env, dir)
      if (run.code !== 0) throw new Error(`${script}: exit ${run.code}: ${run.stdout.slice(-600)} ${run.stderr.slice(-600)}`)
      if (i > 0) times[v]!.push(run.ms)
      if (preload) console.log(`${relative(process.cwd(), script)} ${run.ms.toFixed(0)} ms: ${run.stderr.trim().split('\n').at(-1)}`)
    }
  }
  const base = median(times[variants.length - 1]!)
  for (const [v, script] of variants.entries()) {
    const ms = median(times[v]!)
    console.log(`${relative(process.cwd(), script).padEnd(40)} ${ms.toFixed(1).padStart(7)} ms  ${(ms / base).toFixed(2)}x  [${times[v]!.map((t) => t.toFixed(0)).join(' ')}]`)
  }
} finally {
  rmSync(scratch, { recursive: true, force: true })
  await server.stop()
  await issuer.close()
}
