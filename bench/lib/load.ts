/** Runs one autocannon job in a separate process and returns its figures. */
import { fork } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { LoadJob, LoadResult } from './load-protocol'

const CHILD = fileURLToPath(new URL('./load-child.ts', import.meta.url))

export async function runLoad(job: LoadJob): Promise<LoadResult> {
  const dir = mkdtempSync(join(tmpdir(), 'federate-bench-load-'))
  const file = join(dir, 'job.json')
  try {
    writeFileSync(file, JSON.stringify(job))
    const child = fork(CHILD, [file], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
    return await new Promise<LoadResult>((resolve, reject) => {
      let answer: LoadResult | undefined
      child.once('message', (m: LoadResult) => (answer = m))
      child.once('exit', (code) => (answer ? resolve(answer) : reject(new Error(`load generator exited with ${code} without a result`))))
    })
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}
