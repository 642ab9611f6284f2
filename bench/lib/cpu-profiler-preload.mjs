// Preloaded into the server (NODE_OPTIONS=--import=<this file>) when the bench profiles it:
// --cpu-prof itself is not allowed in NODE_OPTIONS, and the server is started by shared
// test tooling we do not change. Starts the V8 profiler at once and writes a .cpuprofile
// into BENCH_CPU_PROFILE_DIR when the process exits (the in-process inspector answers
// synchronously, so this works inside an 'exit' handler).
import { Session } from 'node:inspector'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'

const dir = process.env.BENCH_CPU_PROFILE_DIR
if (dir) {
  const session = new Session()
  session.connect()
  session.post('Profiler.enable')
  session.post('Profiler.setSamplingInterval', { interval: 1000 })
  session.post('Profiler.start')
  process.on('exit', () => {
    session.post('Profiler.stop', (error, result) => {
      if (!error) writeFileSync(join(dir, `server-${process.pid}.cpuprofile`), JSON.stringify(result.profile))
    })
  })
}
