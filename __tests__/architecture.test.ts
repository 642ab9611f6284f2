/**
 * Dependency rules, on the module graph dependency-cruiser builds from the sources (with the
 * TypeScript compiler, `tsPreCompilationDeps: true`: type-only imports and exports count,
 * because a cycle through `import type` is still a cycle in the design):
 * - the actions (shared/client and the entry points federate/, issue-token/, register-agent/)
 *   reach nothing of the server, the test tooling or the admin CLI, directly or through other modules;
 * - no import cycle anywhere under shared/ or in the entry points.
 * On failure the expectation shows every offending import chain and every cycle.
 */
import { describe, expect, it } from '@jest/globals'
import { readdirSync } from 'node:fs'
import { join, relative } from 'node:path'
import { fileURLToPath } from 'node:url'
import { cruise, type ICruiseResult } from 'dependency-cruiser'
import extractTSConfig from 'dependency-cruiser/config-utl/extract-ts-config'

/**
 * Cycles that exist and are being removed, as printed by this test ("a → b → a", starting at
 * the lexicographically first module). A cycle not listed fails the test, and so does a listed
 * one that no longer exists, so the list cannot go stale.
 * TEMPORARY: removed by the server reshaping. It is empty since 47c42ac, which removed the 11
 * shared/server cycles (app.ts with operations.ts and the routes through `import type { AppOptions }`,
 * policy.ts with policy-input.ts) there were when this test was written.
 */
const KNOWN_SERVER_CYCLES: string[] = []

const ROOT = fileURLToPath(new URL('..', import.meta.url))
/** What the cruise starts from; every module found is one of these files or imported by them. */
const SOURCES = ['shared', 'federate', 'issue-token', 'register-agent']
/** The code bundled into dist/ and run on the runner. */
const CLIENT = /^(shared\/client|federate|issue-token|register-agent)\//
/** What the client must never reach. */
const NOT_FOR_CLIENT = /^shared\/(server|testing|admin-cli)\//
/** Above this, listing elementary cycles stops (their number can grow exponentially with a tangle). */
const MAX_CYCLES = 500

type Graph = Map<string, string[]>

let cruised: Promise<ICruiseResult> | undefined
/** One cruise for the whole file (a second or two). */
function modules(): Promise<ICruiseResult> {
  cruised ??= cruise(
    SOURCES,
    {
      tsPreCompilationDeps: true,
      tsConfig: { fileName: join(ROOT, 'tsconfig.json') },
      doNotFollow: { path: 'node_modules' },
      exclude: { path: 'node_modules' },
      baseDir: ROOT
    },
    {},
    { tsConfig: extractTSConfig(join(ROOT, 'tsconfig.json')) }
  ).then(({ output }) => {
    if (typeof output === 'string') throw new Error('dependency-cruiser answered text, not a result')
    return output
  })
  return cruised
}

/** Module → the repository's own modules it imports (sorted; packages and node: built-ins left out). */
function graphOf(result: ICruiseResult): Graph {
  const graph: Graph = new Map()
  for (const module of result.modules) {
    if (module.coreModule || module.couldNotResolve || module.source.includes('node_modules/')) continue
    const targets = module.dependencies.filter((d) => !d.coreModule && !d.couldNotResolve && !d.resolved.includes('node_modules/')).map((d) => d.resolved)
    graph.set(module.source, [...new Set(targets)].sort())
  }
  return graph
}

/** Every import chain from a client module to a module it must not reach (the shortest per pair). */
function forbiddenChains(graph: Graph): string[] {
  const chains: string[] = []
  for (const start of [...graph.keys()].filter((m) => CLIENT.test(m)).sort()) {
    const parent = new Map<string, string | null>([[start, null]])
    const queue = [start]
    while (queue.length > 0) {
      const module = queue.shift()!
      for (const next of graph.get(module) ?? []) {
        if (parent.has(next)) continue
        parent.set(next, module)
        if (NOT_FOR_CLIENT.test(next)) {
          const chain = [next]
          for (let at = parent.get(next); at; at = parent.get(at)) chain.unshift(at)
          chains.push(chain.join(' → '))
        } else {
          queue.push(next)
        }
      }
    }
  }
  return chains
}

/**
 * Every elementary cycle once, starting at its lexicographically first module: for each module
 * in order, the paths back to it through later modules only.
 */
function cyclesOf(graph: Graph): string[] {
  const cycles: string[] = []
  const nodes = [...graph.keys()].sort()
  for (const start of nodes) {
    const path = [start]
    const onPath = new Set(path)
    const walk = (module: string): void => {
      for (const next of graph.get(module) ?? []) {
        if (cycles.length > MAX_CYCLES) return
        if (next === start) cycles.push([...path, start].join(' → '))
        else if (next > start && !onPath.has(next)) {
          path.push(next)
          onPath.add(next)
          walk(next)
          path.pop()
          onPath.delete(next)
        }
      }
    }
    walk(start)
  }
  return cycles.sort()
}

/** Every .ts / .mjs / .js file under the sources: what the cruise must have read. */
function sourceFiles(): string[] {
  const files: string[] = []
  for (const source of SOURCES) {
    for (const entry of readdirSync(join(ROOT, source), { withFileTypes: true, recursive: true })) {
      if (entry.isFile() && /\.(ts|mts|mjs|js)$/.test(entry.name) && !entry.name.endsWith('.d.ts')) {
        files.push(relative(ROOT, join(entry.parentPath, entry.name)))
      }
    }
  }
  return files.sort()
}

describe('architecture', () => {
  it('sees every source file, resolves every relative import and reports type-only imports', async () => {
    const result = await modules()
    const graph = graphOf(result)
    expect(sourceFiles().filter((file) => !graph.has(file))).toEqual([])
    const unresolved = result.modules.flatMap((m) => m.dependencies.filter((d) => d.couldNotResolve && d.module.startsWith('.')).map((d) => `${m.source} → ${d.module}`))
    expect(unresolved).toEqual([])
    // Without tsPreCompilationDeps (or without TypeScript) these would silently be missing, and with them cycles through `import type`.
    const typeOnly = result.modules.flatMap((m) => m.dependencies.filter((d) => d.dependencyTypes.includes('type-only')))
    expect(typeOnly.length).toBeGreaterThan(0)
  }, 60_000)

  it('the actions import nothing of shared/server, shared/testing or shared/admin-cli, directly or transitively', async () => {
    const graph = graphOf(await modules())
    expect([...graph.keys()].filter((m) => CLIENT.test(m)).length).toBeGreaterThan(0)
    expect(forbiddenChains(graph)).toEqual([])
  }, 60_000)

  it('has no import cycle under shared/ but the known ones (type-only imports included)', async () => {
    for (const known of KNOWN_SERVER_CYCLES) expect(known).toMatch(/^shared\/server\/\S+( → shared\/server\/\S+)+$/)
    const cycles = cyclesOf(graphOf(await modules()))
    expect(cycles.length).toBeLessThanOrEqual(MAX_CYCLES)
    const known = new Set(KNOWN_SERVER_CYCLES)
    expect({ newCycles: cycles.filter((c) => !known.has(c)), allowListedButGone: KNOWN_SERVER_CYCLES.filter((c) => !cycles.includes(c)) }).toEqual({
      newCycles: [],
      allowListedButGone: []
    })
  }, 60_000)
})
