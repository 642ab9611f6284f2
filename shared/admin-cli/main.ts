/** `npm run admin -- <command>` / `npx federate-admin <command>`: see cli.ts and docs/server.md. */
import { text } from 'node:stream/consumers'
import { run } from './cli'

process.exitCode = await run(process.argv.slice(2), {
  env: process.env,
  stdout: (t) => process.stdout.write(t),
  stderr: (t) => process.stderr.write(t),
  readStdin: () => (process.stdin.isTTY ? Promise.resolve('') : text(process.stdin))
})
