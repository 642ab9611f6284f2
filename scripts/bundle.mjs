#!/usr/bin/env node
/**
 * Builds the actions' ESM bundles with @vercel/ncc: dist/<action>/index.js (and post.js
 * for issue-token). `node scripts/bundle.mjs [outRoot]` writes under outRoot (default:
 * dist/ of the repository); the freshness test builds into a temp dir and compares.
 *
 * Start-up: the action bundles hold only the client's own code. @actions/core and
 * @actions/http-client are one separate bundle, dist/vendor/index.js, that an action
 * imports at run time only once its inputs are valid: a run that fails on its inputs never
 * parses or evaluates it, and the four entries share one copy. That bundle is built with
 * tsconfig.vendor.json, whose `paths` replace what the actions never reach with stubs
 * (shared/client/vendor-stubs/): undici (http-client's fetch proxy dispatcher, 90% of the
 * vendor code) and @actions/exec (core.platform's, with child_process and @actions/io).
 */
import { createRequire } from 'node:module'
import { mkdir, mkdtemp, rename, rm, writeFile } from 'node:fs/promises'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

const require = createRequire(import.meta.url)
const ncc = require('@vercel/ncc')
const root = resolve(dirname(fileURLToPath(import.meta.url)), '..')

/** [output folder, output file, entry, tsconfig whose `paths` ncc applies (optional)] */
export const ENTRIES = [
  // What the runner starts (<action>/index.ts, issue-token/post-index.ts) calls run() of the
  // logic module next to it (main.ts, post.ts), which GitHub's local-action imports instead.
  ['federate', 'index.js', 'federate/index.ts'],
  ['register-agent', 'index.js', 'register-agent/index.ts'],
  ['issue-token', 'index.js', 'issue-token/index.ts'],
  ['issue-token', 'post.js', 'issue-token/post-index.ts'],
  // @actions/core + @actions/http-client, shared by all of the above (shared/client/load-vendor.ts).
  ['vendor', 'index.js', 'shared/client/vendor.ts', 'tsconfig.vendor.json']
]

/**
 * ncc resolves modules through tsconfig-paths, which reads the tsconfig named by
 * TS_NODE_PROJECT (else ./tsconfig.json): set for the one build that needs other paths.
 */
async function withTsconfig(tsconfig, build) {
  const saved = process.env.TS_NODE_PROJECT
  if (tsconfig) process.env.TS_NODE_PROJECT = join(root, tsconfig)
  else delete process.env.TS_NODE_PROJECT
  try {
    return await build()
  } finally {
    if (saved === undefined) delete process.env.TS_NODE_PROJECT
    else process.env.TS_NODE_PROJECT = saved
  }
}

async function bundleOne(outRoot, [folder, file, entry, tsconfig]) {
  const { code, assets } = await withTsconfig(tsconfig, () =>
    ncc(join(root, entry), {
      minify: true,
      sourceMap: false,
      quiet: true,
      cache: false,
      // Types are checked by `npm run typecheck`; a type error elsewhere in the repo must not block bundling.
      transpileOnly: true,
      // Paths in the output are relative to the repository, never the build machine.
      filterAssetBase: root
    })
  )
  const dir = join(outRoot, folder)
  await mkdir(dir, { recursive: true })
  await writeFile(join(dir, file), code)
  const written = [join(folder, file)]
  for (const [name, asset] of Object.entries(assets ?? {})) {
    // ncc adds a package.json marking the folder as ESM (same for every entry of a folder).
    await writeFile(join(dir, name), asset.source)
    written.push(join(folder, name))
  }
  return written
}

async function build(outRoot) {
  // Built aside, then swapped in folder by folder: dist/ is never half-built for long
  // (tests and running actions read it while a rebuild is going on).
  await mkdir(outRoot, { recursive: true })
  const staging = await mkdtemp(join(outRoot, '.staging-'))
  try {
    const written = []
    // One after the other: side by side is no faster on a small machine and doubles the memory.
    for (const entry of ENTRIES) written.push(...(await bundleOne(staging, entry)))
    for (const folder of new Set(ENTRIES.map(([f]) => f))) {
      await rm(join(outRoot, folder), { recursive: true, force: true })
      await rename(join(staging, folder), join(outRoot, folder))
    }
    return written
  } finally {
    await rm(staging, { recursive: true, force: true })
  }
}

const outRoot = resolve(process.argv[2] ?? join(root, 'dist'))
const files = await build(outRoot)
console.log(`bundled into ${outRoot}: ${[...new Set(files)].join(', ')}`)
