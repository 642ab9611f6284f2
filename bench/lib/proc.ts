/** Timing child processes from spawn to exit, and reading a process's resident memory. */
import { spawn } from 'node:child_process'
import { readFileSync } from 'node:fs'

export interface Timed {
  ms: number
  code: number | null
  stdout: string
  stderr: string
}

/** Spawn → exit wall time (the parent's event loop stays free: servers in it keep answering). */
export function timeProcess(command: string, args: string[], env: Record<string, string>, cwd?: string): Promise<Timed> {
  return new Promise((resolve, reject) => {
    const start = performance.now()
    const child = spawn(command, args, { env, cwd, stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString('utf8')))
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString('utf8')))
    child.once('error', reject)
    child.once('close', (code) => resolve({ ms: performance.now() - start, code, stdout, stderr }))
  })
}

/** VmRSS of a process in MiB (Linux). */
export function rssMiB(pid: number): number {
  const match = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
  if (!match) throw new Error(`no VmRSS for pid ${pid}`)
  return Number(match[1]) / 1024
}
