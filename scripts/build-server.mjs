#!/usr/bin/env node
/**
 * Builds the reference server to one ESM file that plain `node` runs (no TypeScript loader
 * at start): `node scripts/build-server.mjs [outfile]`, default build/server/main.mjs.
 *
 * Start-up is why: tsx compiles every .ts file at each start, and resolving and compiling
 * hundreds of small CommonJS files of fastify & co. costs more than parsing one file. So
 * every dependency is bundled except @electric-sql/pglite, which loads its .wasm and .data
 * files from beside its own module: it stays in node_modules, so the output must live inside
 * the repository (or anywhere node_modules resolves from), not in a bare temp dir.
 * `pg` is bundled too: bundled CommonJS runs only when first required, which is what keeps
 * it unloaded unless DATABASE_URL is set (store/open.ts imports the driver it needs); its
 * optional native and Cloudflare parts stay outside (required only when used).
 *
 * Written to a temp file then renamed: several `npm run server` at once (tests) never read
 * a half-written file. A list of the source files read is kept beside it (<outfile>.inputs.json)
 * so scripts/build-server-run.mjs can tell when a rebuild is due.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs'
import { copyFile, mkdir, rename, rm, writeFile } from 'node:fs/promises'
import { basename, dirname, join, relative, resolve } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..')
export const ENTRY = join(ROOT, 'shared/server/main.ts')
export const DEFAULT_OUTFILE = join(ROOT, 'build/server/main.mjs')
/**
 * Not bundled: the embedded workspace engine starts it as a worker thread from beside its own
 * module (new URL('./pglite-worker.mjs', import.meta.url)), so it is copied beside the output.
 */
export const WORKSPACE_WORKER = join(ROOT, 'shared/server/workspaces/pglite-worker.mjs')
/**
 * Not bundled either: a new embedded database is unpacked from this archive, which
 * store/pglite-cluster.ts finds beside its own module (new URL(..., import.meta.url)).
 */
const STORE = join(ROOT, 'shared/server/store')
export const clusterArchives = () =>
  readdirSync(STORE)
    .filter((name) => /^pglite-cluster-.*\.tar\.br$/.test(name))
    .map((name) => join(STORE, name))
/** Loaded from node_modules at run time (see above). */
export const EXTERNAL = ['@electric-sql/pglite', 'pg-native', 'pg-cloudflare']

/** The file listing the build's inputs (absolute paths), for the staleness check. */
export const inputsFile = (outfile) => `${outfile}.inputs.json`

/**
 * True when `outfile` is missing, has no record of its inputs, or one of them changed (or is
 * gone) since its build started. A few hundred stat calls; esbuild is not loaded.
 */
export function isStale(outfile = DEFAULT_OUTFILE) {
  try {
    const { startedAt, inputs } = JSON.parse(readFileSync(inputsFile(outfile), 'utf8'))
    statSync(outfile)
    return inputs.some((file) => statSync(file).mtimeMs >= startedAt)
  } catch {
    return true
  }
}

/**
 * Bundled CommonJS code calls require() for Node's built-ins; ESM output has none, so the
 * bundle gets one made for its own location.
 */
const BANNER = "import { createRequire as __federateCreateRequire } from 'node:module';\nconst require = __federateCreateRequire(import.meta.url);"

export async function buildServer(outfile = DEFAULT_OUTFILE) {
  const { build } = await import('esbuild')
  const startedAt = Date.now()
  const dir = dirname(outfile)
  await mkdir(dir, { recursive: true })
  const temp = join(dir, `.${process.pid}-${startedAt}.tmp.mjs`)
  try {
    const result = await build({
      entryPoints: [ENTRY],
      bundle: true,
      platform: 'node',
      format: 'esm',
      target: 'node20',
      external: EXTERNAL,
      banner: { js: BANNER },
      // Bundling renames clashing identifiers; keep the names code may read (class names).
      keepNames: true,
      legalComments: 'none',
      metafile: true,
      // Paths in the metafile are relative to this (whatever the caller's cwd).
      absWorkingDir: ROOT,
      outfile: temp,
      logLevel: 'silent'
    })
    // This script shapes the output too.
    const archives = clusterArchives()
    const inputs = [...Object.keys(result.metafile.inputs).map((file) => resolve(ROOT, file)), WORKSPACE_WORKER, ...archives, fileURLToPath(import.meta.url)]
    await writeFile(`${temp}.inputs.json`, `${JSON.stringify({ startedAt, inputs })}\n`)
    // In place before the output that loads them, each through a temp name of its own.
    for (const file of [WORKSPACE_WORKER, ...archives]) {
      await copyFile(file, `${temp}.asset`)
      await rename(`${temp}.asset`, join(dir, basename(file)))
    }
    // Output first: a reader between the two renames sees an old record and rebuilds, never
    // a new record vouching for an old output.
    await rename(temp, outfile)
    await rename(`${temp}.inputs.json`, inputsFile(outfile))
    return { outfile, inputs }
  } finally {
    await rm(temp, { force: true })
    await rm(`${temp}.inputs.json`, { force: true })
    await rm(`${temp}.asset`, { force: true })
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const outfile = resolve(process.argv[2] ?? DEFAULT_OUTFILE)
  const { inputs } = await buildServer(outfile)
  process.stdout.write(`built ${relative(process.cwd(), outfile)} from ${inputs.length} files\n`)
}
