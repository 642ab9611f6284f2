// The embedded engine's own start on an existing data dir, timed inside one process:
// importing PGlite, PGlite.create(dir) (WASM compile + instantiate + opening the cluster),
// and a first query. argv[2] = data dir; argv[3] = 'server' (default) opens it the way
// shared/server opens it (main.ts caps V8's wasm compile jobs at cores-1, store/pglite.ts
// compiles the WebAssembly itself from the start), 'plain' is PGlite.create(dir) alone.
// Prints JSON { importMs, createMs, firstQueryMs } (create includes the compile).
import { readFile } from 'node:fs/promises'
import { createRequire } from 'node:module'
import { availableParallelism } from 'node:os'
import { dirname, join } from 'node:path'
import { setFlagsFromString } from 'node:v8'

const [dataDir, mode = 'server'] = process.argv.slice(2)
const t0 = performance.now()
let compiling
if (mode === 'server') {
  setFlagsFromString(`--wasm-num-compilation-tasks=${Math.max(1, availableParallelism() - 1)}`)
  const dist = dirname(createRequire(import.meta.url).resolve('@electric-sql/pglite'))
  compiling = readFile(join(dist, 'pglite.wasm')).then((bytes) => WebAssembly.compile(bytes))
}
const { PGlite } = await import('@electric-sql/pglite')
const t1 = performance.now()
const pg = await PGlite.create(dataDir, compiling ? { pgliteWasmModule: await compiling } : {})
const t2 = performance.now()
await pg.query('SELECT 1')
const t3 = performance.now()
await pg.close()
console.log(JSON.stringify({ importMs: t1 - t0, createMs: t2 - t1, firstQueryMs: t3 - t2 }))
