// The embedded engine's own start on an existing data dir, timed inside one process:
// importing PGlite, PGlite.create(dir) (WASM compile + instantiate + opening the cluster),
// and a first query. argv[2] = data dir. Prints JSON { importMs, createMs, firstQueryMs }.
const t0 = performance.now()
const { PGlite } = await import('@electric-sql/pglite')
const t1 = performance.now()
const pg = await PGlite.create(process.argv[2])
const t2 = performance.now()
await pg.query('SELECT 1')
const t3 = performance.now()
await pg.close()
console.log(JSON.stringify({ importMs: t1 - t0, createMs: t2 - t1, firstQueryMs: t3 - t2 }))
