#!/usr/bin/env node
/**
 * `npm run server`: runs the server prebuilt by scripts/build-server.mjs with plain node, in
 * this same process (a second process would cost its own start). Rebuilds first when the
 * build is missing or any file it was built from changed since (a fresh clone, a pull, an
 * edit), so a checkout never runs stale code; a fresh build is checked with a few hundred
 * stat calls and esbuild is not even loaded.
 */
import { readFileSync, statSync } from 'node:fs'
import module from 'node:module'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { DEFAULT_OUTFILE, ROOT, buildServer, inputsFile } from './build-server.mjs'

/** True when the build is missing or older than one of its inputs (or an input is gone). */
function stale(outfile) {
  let record
  try {
    record = JSON.parse(readFileSync(inputsFile(outfile), 'utf8'))
    statSync(outfile)
  } catch {
    return true
  }
  try {
    return record.inputs.some((file) => statSync(file).mtimeMs >= record.startedAt)
  } catch {
    return true
  }
}

if (stale(DEFAULT_OUTFILE)) await buildServer(DEFAULT_OUTFILE)
// Node >= 22.1 keeps V8's compiled code between starts (a no-op where it does not exist).
module.enableCompileCache?.(join(ROOT, 'build', '.compile-cache'))
await import(pathToFileURL(DEFAULT_OUTFILE).href)
