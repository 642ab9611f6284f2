/**
 * 2. Bundle size per action: what the runner loads for it, i.e. its entry file plus every
 * file it imports by relative path (a shared chunk counts for each action that loads it).
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs'
import { dirname, join, relative, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { ACTIONS } from './cold-start'
import type { ResultTable } from '../lib/table'

const ROOT = fileURLToPath(new URL('../..', import.meta.url))
const TARGET_KB = 600

/** The entry and the files it reaches through relative static or dynamic imports. */
export function loadedFiles(entry: string): string[] {
  const seen = new Set<string>()
  const visit = (file: string): void => {
    if (seen.has(file) || !existsSync(file)) return
    seen.add(file)
    const text = readFileSync(file, 'utf8')
    for (const match of text.matchAll(/(?:\bfrom\s*|\bimport\s*\(\s*|\bimport\s+)["'](\.{1,2}\/[^"']+)["']/g)) {
      visit(resolve(dirname(file), match[1]!))
    }
  }
  visit(entry)
  return [...seen]
}

/** .js files in dist/ folders that belong to no action: chunks the actions share. */
function sharedChunks(): string[] {
  const dist = join(ROOT, 'dist')
  const own = new Set<string>(ACTIONS)
  return readdirSync(dist, { withFileTypes: true })
    .filter((d) => d.isDirectory() && !own.has(d.name))
    .flatMap((d) => readdirSync(join(dist, d.name), { recursive: true, encoding: 'utf8' }).map((f) => join(dist, d.name, f)))
    .filter((f) => f.endsWith('.js') || f.endsWith('.mjs'))
}

export function bundleSizes(table: ResultTable): void {
  // Shared chunks may be imported through computed paths, so count them for every action.
  const chunks = sharedChunks()
  for (const action of ACTIONS) {
    for (const file of ['index.js', 'post.js']) {
      const entry = join(ROOT, 'dist', action, file)
      if (!existsSync(entry)) continue
      const files = [...new Set([...loadedFiles(entry), ...chunks])]
      const kb = files.reduce((sum, f) => sum + statSync(f).size, 0) / 1000
      const shared = files.slice(1).map((f) => relative(ROOT, f))
      table.add({
        section: '2. bundle size',
        metric: `dist/${action}/${file}${shared.length ? ` + ${shared.join(', ')}` : ''}`,
        value: `${kb.toFixed(0)} KB`,
        target: `< ${TARGET_KB} KB`,
        pass: kb < TARGET_KB
      })
    }
  }
}
