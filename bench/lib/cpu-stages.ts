/**
 * Splits a V8 .cpuprofile of the server into the stages of an exchange: each sample goes to the
 * stage of the innermost frame on its stack that a rule names (a socket write under PGlite's
 * file system is the database's; under the HTTP response it is the response's). Only the
 * samples between the first and the last one inside `marker` count, so start-up and shutdown
 * stay out.
 */
import { readFileSync } from 'node:fs'

interface Frame {
  functionName: string
  url: string
}

interface ProfileNode {
  id: number
  callFrame: Frame
  children?: number[]
}

interface Profile {
  nodes: ProfileNode[]
  samples: number[]
  timeDeltas: number[]
}

export interface StageRule {
  stage: string
  matches: (frame: Frame) => boolean
}

const url =
  (...parts: string[]) =>
  (frame: Frame) =>
    parts.some((part) => frame.url.includes(part))
const fn =
  (...names: string[]) =>
  (frame: Frame) =>
    names.includes(frame.functionName)

/** The exchange's stages, innermost rule first on each stack. */
export const EXCHANGE_STAGES: StageRule[] = [
  { stage: 'database (PGlite WASM, its JS and file writes; pg client)', matches: url('@electric-sql/pglite', 'wasm://', 'store/', 'node_modules/pg') },
  { stage: 'verify the OIDC token (RS256 + claim checks)', matches: url('oidc/verifier', 'oidc/rs256', 'oidc/claims', 'oidc/jwks', '/jose/') },
  { stage: 'sign the access token (ES256)', matches: url('fast-jwt', 'server/keys.ts', 'server/tokens.ts') },
  { stage: 'trust policy decision', matches: url('oidc/policy') },
  { stage: 'exchange route (own code)', matches: url('routes/exchange/', 'server/context.ts') },
  { stage: 'logging', matches: url('pino', '@pinojs') },
  { stage: 'metrics', matches: url('prom-client', 'server/metrics') },
  {
    stage: 'request in (HTTP parse, routing, JSON parse, schema)',
    matches: url('_http_incoming', '_http_common', 'secure-json-parse', 'ajv', 'find-my-way', 'content-type-parser', 'lib/validation')
  },
  { stage: 'response out (serialize, socket writes)', matches: url('_http_outgoing', 'stream_base_commons', 'node:net', 'lib/reply.js', 'fast-json-stringify') },
  {
    stage: 'own request hooks (limits, request facts, errors)',
    matches: url('server/http.ts', 'server/app.ts', 'request-facts', 'preauth-limit', 'rate-limit', 'server/errors.ts', 'denial-audit')
  },
  { stage: 'framework (Fastify request life cycle, node:http server)', matches: url('fastify', 'avvio', '_http_server') },
  { stage: 'async bookkeeping (promise hooks, microtasks)', matches: url('async_hooks', 'process/task_queues') },
  { stage: 'garbage collector', matches: fn('(garbage collector)') },
  { stage: 'idle', matches: fn('(idle)') }
]

export interface StageBreakdown {
  /** CPU ms per stage inside the window (idle kept apart). */
  stages: Map<string, number>
  /** Busy ms inside the window: every stage but idle. */
  busyMs: number
}

export function stageBreakdown(path: string, marker: (frame: Frame) => boolean, rules: StageRule[] = EXCHANGE_STAGES): StageBreakdown {
  const profile = JSON.parse(readFileSync(path, 'utf8')) as Profile
  const byId = new Map(profile.nodes.map((node) => [node.id, node]))
  const parent = new Map<number, number>()
  for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id)

  const memo = new Map<number, { stage: string; inMarker: boolean }>()
  const classify = (id: number): { stage: string; inMarker: boolean } => {
    const known = memo.get(id)
    if (known) return known
    let stage: string | undefined
    let inMarker = false
    for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
      const frame = byId.get(at)!.callFrame
      stage ??= rules.find((rule) => rule.matches(frame))?.stage
      if (marker(frame)) inMarker = true
    }
    const found = { stage: stage ?? 'other (runtime, timers, unattributed)', inMarker }
    memo.set(id, found)
    return found
  }

  const marked = profile.samples.map((id) => classify(id).inMarker)
  const first = marked.indexOf(true)
  const last = marked.lastIndexOf(true)
  const stages = new Map<string, number>()
  let busyMs = 0
  for (let i = Math.max(first, 0); i <= last; i++) {
    const ms = (profile.timeDeltas[i + 1] ?? 0) / 1000
    const { stage } = classify(profile.samples[i]!)
    stages.set(stage, (stages.get(stage) ?? 0) + ms)
    if (stage !== 'idle') busyMs += ms
  }
  return { stages, busyMs }
}
