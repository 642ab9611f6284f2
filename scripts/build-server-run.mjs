#!/usr/bin/env node
/**
 * `npm run server`: runs the server prebuilt by scripts/build-server.mjs with plain node, in
 * this same process (a second process would cost its own start). Rebuilds first when the
 * build is missing or any file it was built from changed since (a fresh clone, a pull, an
 * edit), so a checkout never runs stale code; checking a fresh build does not load esbuild.
 */
import module from 'node:module'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { DEFAULT_OUTFILE, ROOT, buildServer, isStale } from './build-server.mjs'

if (isStale(DEFAULT_OUTFILE)) await buildServer(DEFAULT_OUTFILE)
// Node >= 22.1 keeps V8's compiled code between starts (a no-op where it does not exist).
module.enableCompileCache?.(join(ROOT, 'build', '.compile-cache'))
await import(pathToFileURL(DEFAULT_OUTFILE).href)
