import { describe, expect, it } from '@jest/globals'
import { readFileSync } from 'node:fs'

interface LockEntry {
  optionalDependencies?: Record<string, string>
}

describe('package-lock.json', () => {
  it('contains every optional dependency it names, so `npm ci` accepts it (run scripts/fix-lock.mjs after npm install)', () => {
    const lock = JSON.parse(readFileSync('package-lock.json', 'utf8')) as { packages: Record<string, LockEntry> }
    const dangling: string[] = []
    for (const [path, entry] of Object.entries(lock.packages)) {
      for (const name of Object.keys(entry.optionalDependencies ?? {})) {
        const nested = `${path === '' ? '' : path + '/'}node_modules/${name}`
        if (!lock.packages[nested] && !lock.packages[`node_modules/${name}`]) dangling.push(`${path || '(root)'} -> ${name}`)
      }
    }
    expect(dangling).toEqual([])
  })
})
