/**
 * dist/ must be what `npm run bundle` makes from the current sources: rebuilds into a temp
 * dir with the same script and compares every file, both ways. Also checks that each
 * action.yml points at a bundle that exists.
 */
import { describe, expect, it } from '@jest/globals'
import { execFile } from 'node:child_process'
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join, relative, resolve } from 'node:path'
import { promisify } from 'node:util'

const root = resolve(import.meta.dirname ?? new URL('.', import.meta.url).pathname, '..')
const BUNDLED = ['federate', 'register-agent', 'issue-token', 'vendor']

async function files(dir: string): Promise<string[]> {
  const out: string[] = []
  for (const entry of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (entry.isFile()) out.push(relative(dir, join(entry.parentPath, entry.name)))
  }
  return out.sort()
}

describe('dist/', () => {
  it('matches a fresh build of the sources (run `npm run bundle` and commit dist/ if this fails)', async () => {
    const out = await mkdtemp(join(tmpdir(), 'federate-dist-'))
    try {
      await promisify(execFile)(process.execPath, [join(root, 'scripts/bundle.mjs'), out], { cwd: root, maxBuffer: 16 * 1024 * 1024 })
      for (const action of BUNDLED) {
        const fresh = await files(join(out, action))
        const committed = await files(join(root, 'dist', action))
        expect({ action, files: committed }).toEqual({ action, files: fresh })
        for (const file of fresh) {
          const same = (await readFile(join(out, action, file))).equals(await readFile(join(root, 'dist', action, file)))
          expect({ file: `dist/${action}/${file}`, stale: !same }).toEqual({ file: `dist/${action}/${file}`, stale: false })
        }
      }
    } finally {
      await rm(out, { recursive: true, force: true })
    }
  }, 240_000)

  it.each([
    ['action.yml', 'dist/federate/index.js'],
    ['federate/action.yml', '../dist/federate/index.js'],
    ['register-agent/action.yml', '../dist/register-agent/index.js'],
    ['issue-token/action.yml', '../dist/issue-token/index.js']
  ])('%s runs %s on node24', async (file, main) => {
    const yml = await readFile(join(root, file), 'utf8')
    expect(yml).toMatch(/^\s+using: 'node24'$/m)
    expect(yml).toContain(`  main: '${main}'`)
    await expect(readFile(join(root, file, '..', main))).resolves.toBeInstanceOf(Buffer)
  })

  it('issue-token has a post step bundle', async () => {
    const yml = await readFile(join(root, 'issue-token/action.yml'), 'utf8')
    expect(yml).toContain("  post: '../dist/issue-token/post.js'")
    await expect(readFile(join(root, 'dist/issue-token/post.js'))).resolves.toBeInstanceOf(Buffer)
  })

  it.each(BUNDLED)('every file of dist/%s is under 600 KB', async (action) => {
    for (const file of await files(join(root, 'dist', action))) {
      const { size } = await import('node:fs').then((fs) => fs.statSync(join(root, 'dist', action, file)))
      expect({ file, tooBig: size >= 600 * 1024 }).toEqual({ file, tooBig: false })
    }
  })
})
