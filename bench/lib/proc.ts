/** Timing child processes from spawn to exit, and reading a process's resident memory and CPU time. */
import { execFileSync, spawn } from 'node:child_process'
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

/** CPU ms (user + system) a process (all its threads), or with `thread` one of its threads, has used so far (Linux, 100 ticks/s). */
export function cpuMs(pid: number, thread?: number): number {
  const stat = readFileSync(thread ? `/proc/${pid}/task/${thread}/stat` : `/proc/${pid}/stat`, 'utf8')
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100
}

/** CPU seconds (user + system) used so far by a process and its children, live or reaped (a WORKERS primary and its workers, a postmaster and its backends). */
export function treeCpuSeconds(pid: number): number {
  let children: number[] = []
  try {
    children = execFileSync('ps', ['-o', 'pid=', '--ppid', String(pid)], { encoding: 'utf8' })
      .split('\n')
      .map((s) => Number(s.trim()))
      .filter((n) => n > 0)
  } catch {
    // ps exits 1 when there is no child
  }
  const ticks = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100
  let total = 0
  for (const p of [pid, ...children]) {
    try {
      // Fields after the parenthesised command name: utime, stime, then cutime and cstime (the
      // children it reaped: PostgreSQL backends that closed, workers that died) from the 12th.
      const stat = readFileSync(`/proc/${p}/stat`, 'utf8')
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
      total += (Number(fields[11]) + Number(fields[12]) + Number(fields[13]) + Number(fields[14])) / ticks
    } catch {
      // exited meanwhile
    }
  }
  return total
}

/** The pid of the PostgreSQL server listening on `port` (its postmaster), if one is found. */
export function postmasterPid(port: number): number | undefined {
  const lines = execFileSync('ps', ['-eo', 'pid=,args='], { encoding: 'utf8' }).split('\n')
  const found = lines.find((line) => /\/postgres -D /.test(line) && line.includes(` -p ${port} `))
  return found ? Number(found.trim().split(/\s+/)[0]) : undefined
}
