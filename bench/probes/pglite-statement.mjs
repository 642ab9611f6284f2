// Probe: per-statement cost of PGlite (in memory): simple vs extended protocol, a PK lookup vs SELECT 1.
import { PGlite } from '@electric-sql/pglite'
const pg = await PGlite.create()
await pg.exec(`CREATE TABLE c (id uuid primary key, name text, t timestamptz); INSERT INTO c VALUES ('6f1c1f2e-8b9a-4f0e-9d51-0b5a3c1e2d3f', 'x', now());`)
const N = 3000
async function time(label, fn) {
  for (let i = 0; i < 200; i++) await fn(i)
  const t = performance.now()
  for (let i = 0; i < N; i++) await fn(i)
  console.log(label.padEnd(40), (((performance.now() - t) / N) * 1000).toFixed(0), 'us')
}
const id = '6f1c1f2e-8b9a-4f0e-9d51-0b5a3c1e2d3f'
await time('query no params', () => pg.query(`SELECT * FROM c WHERE id = '${id}'`))
await time('query with params', () => pg.query('SELECT * FROM c WHERE id = $1', [id]))
await time('exec (simple protocol)', () => pg.exec(`SELECT * FROM c WHERE id = '${id}'`))
await time('SELECT 1', () => pg.query('SELECT 1'))
await pg.close()
