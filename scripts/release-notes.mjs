#!/usr/bin/env node
// The release notes of one version: its section of CHANGELOG.md (`## [X.Y.Z] - date` up to the
// next `## `), printed to stdout. Run by .github/workflows/release.yml for a tag vX.Y.Z, which
// it also checks against package.json's version. Exits 1, saying why, when the tag is not
// vX.Y.Z, package.json has another version, or CHANGELOG.md has no such section or an empty one.
import { readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')

/** The notes for `tag` from `changelog`, or throws an Error whose message says what is missing. */
export function releaseNotes(tag, changelog, packageVersion) {
  const match = /^v(\d+\.\d+\.\d+)$/.exec(tag)
  if (!match) throw new Error(`tag ${JSON.stringify(tag)} is not vX.Y.Z`)
  const version = match[1]
  if (packageVersion !== version) throw new Error(`package.json has version ${packageVersion}, the tag is ${tag}: set "version": "${version}" first`)
  const lines = changelog.split('\n')
  const start = lines.findIndex((line) => line.startsWith(`## [${version}]`))
  if (start < 0) throw new Error(`CHANGELOG.md has no "## [${version}]" section: move the Unreleased entries under it first`)
  const end = lines.findIndex((line, i) => i > start && line.startsWith('## '))
  const notes = lines
    .slice(start + 1, end < 0 ? undefined : end)
    .join('\n')
    .replace(/^\[[^\]]+\]: .*$/gm, '') // link definitions at the end of the file
    .trim()
  if (!notes) throw new Error(`CHANGELOG.md's section for ${version} is empty`)
  return `${notes}\n`
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  try {
    const changelog = readFileSync(join(root, 'CHANGELOG.md'), 'utf8')
    const { version } = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'))
    process.stdout.write(releaseNotes(process.argv[2] ?? '', changelog, version))
  } catch (error) {
    process.stderr.write(`release-notes: ${error.message}\n`)
    process.exit(1)
  }
}
