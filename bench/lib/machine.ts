/** The machine a run was measured on, for RESULTS.md: cores, CPU model, memory, Node versions. */
import { readFileSync } from 'node:fs'
import { availableParallelism, cpus, loadavg, totalmem } from 'node:os'
import { execFileSync } from 'node:child_process'

export interface Machine {
  nproc: number
  cpuModel: string
  memoryGiB: number
  kernel: string
  node: Record<string, string>
  /** 1-minute load average when the run started (other work on the machine skews every figure). */
  loadAverage: number
}

/** The 1-minute load average now. */
export function loadAverage(): number {
  return loadavg()[0] ?? Number.NaN
}

export function describeMachine(binaries: Record<string, string>): Machine {
  let cpuModel = cpus()[0]?.model ?? 'unknown'
  try {
    const match = /^model name\s*:\s*(.+)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'))
    if (match) cpuModel = match[1]!.trim()
  } catch {
    // not Linux: os.cpus() is good enough
  }
  const node: Record<string, string> = {}
  for (const [label, path] of Object.entries(binaries)) {
    try {
      node[label] = execFileSync(path, ['-p', 'process.version'], { encoding: 'utf8' }).trim()
    } catch {
      node[label] = 'unavailable'
    }
  }
  let kernel = 'unknown'
  try {
    kernel = readFileSync('/proc/sys/kernel/osrelease', 'utf8').trim()
  } catch {
    // not Linux
  }
  return { nproc: availableParallelism(), cpuModel, memoryGiB: Math.round(totalmem() / 2 ** 30), kernel, node, loadAverage: loadAverage() }
}
