/**
 * Summarises a V8 .cpuprofile (from --cpu-prof): self time by function and by package, so
 * the report can say where an exchange spends its time.
 */
import { readFileSync } from 'node:fs'

interface ProfileNode {
  id: number
  callFrame: { functionName: string; url: string; lineNumber: number }
  hitCount?: number
}

interface Profile {
  nodes: ProfileNode[]
  startTime: number
  endTime: number
  samples: number[]
  timeDeltas?: number[]
}

export interface ProfileSummary {
  totalMs: number
  byFunction: Array<{ name: string; ms: number; share: number }>
  byPackage: Array<{ name: string; ms: number; share: number }>
}

/** node_modules/<pkg> (scoped too), node: internals, our own files, or V8's pseudo-frames. */
function packageOf(frame: ProfileNode['callFrame']): string {
  const url = frame.url
  if (!url) return frame.functionName ? `(${frame.functionName})` : '(native)'
  const nm = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url)
  if (nm) return nm[1]!
  if (url.startsWith('node:')) return url.replace(/^node:internal\/(\w+).*/, 'node:$1')
  const own = /\/(shared\/server\/[^?]+|bench\/[^?]+)/.exec(url)
  return own ? own[1]! : url
}

export function summarizeProfile(path: string, top = 20): ProfileSummary {
  const profile = JSON.parse(readFileSync(path, 'utf8')) as Profile
  const totalMs = (profile.endTime - profile.startTime) / 1000
  // Self time per node from the samples and their time deltas (hitCount is not always there).
  const selfMs = new Map<number, number>()
  profile.samples.forEach((id, i) => {
    const next = profile.timeDeltas?.[i + 1]
    const ms = next !== undefined ? next / 1000 : totalMs / profile.samples.length
    selfMs.set(id, (selfMs.get(id) ?? 0) + ms)
  })
  const byFunction = new Map<string, number>()
  const byPackage = new Map<string, number>()
  for (const node of profile.nodes) {
    const ms = selfMs.get(node.id) ?? 0
    if (ms === 0) continue
    const f = node.callFrame
    const name = `${f.functionName || '(anonymous)'} ${packageOf(f)}${f.url ? `:${f.lineNumber + 1}` : ''}`
    byFunction.set(name, (byFunction.get(name) ?? 0) + ms)
    const pkg = packageOf(f)
    byPackage.set(pkg, (byPackage.get(pkg) ?? 0) + ms)
  }
  const rank = (m: Map<string, number>) =>
    [...m.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([name, ms]) => ({ name, ms, share: ms / totalMs }))
  return { totalMs, byFunction: rank(byFunction), byPackage: rank(byPackage) }
}

export function formatSummary(summary: ProfileSummary): string {
  const line = (e: { name: string; ms: number; share: number }): string => `  ${(e.share * 100).toFixed(1).padStart(5)}%  ${e.ms.toFixed(0).padStart(6)} ms  ${e.name}`
  return [
    `profile: ${summary.totalMs.toFixed(0)} ms wall`,
    'self time by package/file:',
    ...summary.byPackage.map(line),
    'self time by function:',
    ...summary.byFunction.map(line)
  ].join('\n')
}
