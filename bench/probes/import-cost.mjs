// Probe: what importing each server dependency costs in a fresh process (part of the server's
// start-up that is neither PGlite's engine nor tsx). Median of 5 fresh processes per module.
import { execFileSync } from 'node:child_process'
const modules = ['fastify', '@fastify/swagger', 'fastify-plugin', 'jose', 'pg', '@electric-sql/pglite', 'pino']
const median = (v) => [...v].sort((a, b) => a - b)[v.length >> 1]
for (const name of modules) {
  const times = []
  for (let i = 0; i < 5; i++) {
    const out = execFileSync(
      process.execPath,
      ['--input-type=module', '-e', `const t = performance.now(); await import(${JSON.stringify(name)}); console.log(performance.now() - t)`],
      { encoding: 'utf8' }
    )
    times.push(Number(out.trim()))
  }
  console.log(`${name.padEnd(24)} ${median(times).toFixed(0).padStart(5)} ms`)
}
