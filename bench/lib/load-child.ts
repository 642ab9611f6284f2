/**
 * The load generator, in its own process so it does not share the server's event loop:
 * autocannon's API, one distinct token per request (setupRequest takes the next one).
 * Reads the job from the JSON file named by argv[2]; answers over IPC.
 */
import { readFileSync } from 'node:fs'
import autocannon from 'autocannon'
import type { LoadJob, LoadResult } from './load-protocol'

const job = JSON.parse(readFileSync(process.argv[2]!, 'utf8')) as LoadJob
const items = job.bodies ?? job.bearerTokens ?? []
const requests = job.requests ?? []
let next = 0
let reused = 0
let firstSentAt: number | undefined
let lastAnsweredAt = 0
const statuses: Record<string, number> = {}
const sampleFailures: string[] = []

// autocannon builds the next request of a connection when the previous answer arrives, and
// once per connection up front, so it asks for up to amount + connections items.
function take(): string {
  if (next >= items.length) reused++
  return items[next++ % items.length]!
}

const started = performance.now()
const cpuAtStart = process.cpuUsage()
const result = await autocannon({
  url: job.url,
  connections: job.connections,
  ...(job.durationSeconds ? { duration: job.durationSeconds } : { amount: job.amount }),
  timeout: job.timeoutSeconds ?? 10,
  requests: [
    {
      method: 'POST',
      path: job.path,
      setupRequest: (request) => {
        firstSentAt ??= performance.now()
        if (job.requests) {
          const r = requests[next++ % requests.length]!
          return { ...request, path: r.path, headers: { 'content-type': 'application/json', authorization: `Bearer ${r.bearer}` }, body: r.body }
        }
        const headers: Record<string, string> = job.bodies ? { 'content-type': 'application/json' } : { authorization: `Bearer ${take()}` }
        return job.bodies ? { ...request, headers, body: take() } : { ...request, headers }
      },
      onResponse: (status, body) => {
        lastAnsweredAt = performance.now()
        statuses[status] = (statuses[status] ?? 0) + 1
        if ((status < 200 || status > 299) && sampleFailures.length < 5) sampleFailures.push(`${status} ${String(body).slice(0, 300)}`)
      }
    }
  ]
})
// From the first request built to the last answer: autocannon itself finishes an `amount`
// run only on its next 1-second tick (3,000 requests done in 0.4 s or in 0.9 s both take
// 1.02 s to return), so its wall time, or its per-second average, would quantize the rate.
// The generator's own CPU (user + system), to judge how much of the machine the load took.
const cpu = process.cpuUsage(cpuAtStart)
const durationMs = firstSentAt === undefined ? performance.now() - started : lastAnsweredAt - firstSentAt

const answer: LoadResult = {
  requests: result.requests.total,
  durationMs,
  requestsPerSecond: (result['2xx'] + result.non2xx) / (durationMs / 1000),
  p50Ms: result.latency.p50,
  p99Ms: result.latency.p99,
  maxMs: result.latency.max,
  errors: result.errors,
  timeouts: result.timeouts,
  non2xx: result.non2xx,
  statuses,
  sampleFailures,
  reusedTokens: reused,
  cpuMs: (cpu.user + cpu.system) / 1000,
  wallMs: performance.now() - started
}
process.send!(answer, () => process.exit(0))
