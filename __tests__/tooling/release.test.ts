/**
 * Release habits (CHANGELOG.md, .github/workflows/release.yml, dependabot, .node-version, the
 * README's `uses:` lines): the release-notes script the workflow runs, and the files agreeing
 * with one another. The workflows themselves pass actionlint (github-schemas.test.ts).
 */
import { describe, expect, it } from '@jest/globals'
import { spawnSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { parse } from 'yaml'
import { releaseNotes } from '../../scripts/release-notes.mjs'

const root = resolve(import.meta.dirname ?? new URL('.', import.meta.url).pathname, '../..')
const read = (file: string): string => readFileSync(join(root, file), 'utf8')

const CHANGELOG = `# Changelog

## [Unreleased]

- next

## [1.2.0] - 2026-01-02

### Added

- a thing

## [1.1.0] - 2025-12-01

- an older thing

[1.2.0]: https://example.invalid/compare/v1.1.0...v1.2.0
`

describe('scripts/release-notes.mjs', () => {
  it("prints the tag's section of the changelog, without its heading or the next one", () => {
    expect(releaseNotes('v1.2.0', CHANGELOG, '1.2.0')).toBe('### Added\n\n- a thing\n')
    expect(releaseNotes('v1.1.0', CHANGELOG, '1.1.0')).toBe('- an older thing\n')
  })

  it.each([
    ['1.2.0', '1.2.0', /is not vX.Y.Z/],
    ['v1.2', '1.2.0', /is not vX.Y.Z/],
    ['v1.2.0', '1.1.0', /package.json has version 1.1.0/],
    ['v1.3.0', '1.3.0', /no "## \[1.3.0\]" section/]
  ])('refuses tag %s with package version %s', (tag, version, message) => {
    expect(() => releaseNotes(tag, CHANGELOG, version)).toThrow(message)
  })

  it('as the workflow runs it: fails, saying why, for a version the changelog does not have', () => {
    const result = spawnSync(process.execPath, ['scripts/release-notes.mjs', 'v99.0.0'], { cwd: root, encoding: 'utf8' })
    expect(result.status).toBe(1)
    expect(result.stderr).toMatch(/^release-notes: /)
  })

  it("CHANGELOG.md has an Unreleased section and a section for package.json's version once it is released", () => {
    const changelog = read('CHANGELOG.md')
    expect(changelog).toMatch(/^## \[Unreleased\]$/m)
    for (const [, version] of changelog.matchAll(/^## \[(\d+\.\d+\.\d+)\]/gm)) expect(releaseNotes(`v${version}`, changelog, version!)).not.toBe('')
  })
})

describe('the release scheme', () => {
  const workflow = parse(read('.github/workflows/release.yml')) as {
    on: { push: { tags: string[] } }
    jobs: { release: { permissions: Record<string, string>; steps: Array<{ run?: string }> } }
  }
  const runs = workflow.jobs.release.steps.map((step) => step.run ?? '').join('\n')

  it('release.yml runs for vX.Y.Z tags: checks dist/, takes notes from CHANGELOG.md, creates the release, moves vX', () => {
    expect(workflow.on.push.tags).toEqual(['v[0-9]+.[0-9]+.[0-9]+'])
    expect(workflow.jobs.release.permissions).toEqual({ contents: 'write' })
    expect(runs).toContain('npm run bundle')
    expect(runs).toContain('git status --porcelain -- dist')
    expect(runs).toContain('node scripts/release-notes.mjs "$TAG"')
    expect(runs).toContain('gh release create "$TAG"')
    expect(runs).toMatch(/major="\$\{TAG%%\.\*\}"[\s\S]*git push --force origin "refs\/tags\/\$major"/)
  })

  it("the README's uses: lines name the major tag vX of package.json's version, or a full commit SHA", () => {
    const major = (JSON.parse(read('package.json')) as { version: string }).version.split('.')[0]
    const uses = [...read('README.md').matchAll(/(org\/federate[\w/-]*@[^\s`'"]+)/g)].map((m) => m[1]!)
    expect(uses.length).toBeGreaterThan(4)
    for (const ref of uses) expect(ref).toMatch(new RegExp(`^org/federate(/[a-z-]+)?@(v${major}|v${major}\\.\\d+\\.\\d+|[0-9a-f]{40})$`))
  })

  it('.node-version is the runtime the actions declare (runs.using)', () => {
    const nodeVersion = read('.node-version').trim()
    for (const file of ['action.yml', 'federate/action.yml', 'register-agent/action.yml', 'issue-token/action.yml']) {
      expect((parse(read(file)) as { runs: { using: string } }).runs.using).toBe(`node${nodeVersion}`)
    }
  })

  it('dependabot updates npm and GitHub Actions, grouped', () => {
    const config = parse(read('.github/dependabot.yml')) as { version: number; updates: Array<{ 'package-ecosystem': string; groups?: Record<string, unknown> }> }
    expect(config.version).toBe(2)
    expect(config.updates.map((u) => u['package-ecosystem']).sort()).toEqual(['github-actions', 'npm'])
    for (const update of config.updates) expect(Object.keys(update.groups ?? {}).length).toBeGreaterThan(0)
  })
})
