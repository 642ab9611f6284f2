/**
 * The Idempotency-Key of a registration: derived from the run (id, attempt, job, step) and
 * the request, so a retried request — even from a re-started process of the same attempt —
 * sends the same key and cannot create a second agent; a new run attempt gets a new key.
 */
import { createHash, randomUUID } from 'node:crypto'
import type { Env } from './inputs'

export function idempotencyKey(env: Env, agent: { name: string; description?: string }): string {
  // Outside a runner there is no run to tie it to: unique per process, stable across its retries.
  const run = env.GITHUB_RUN_ID
    ? [env.GITHUB_REPOSITORY, env.GITHUB_RUN_ID, env.GITHUB_RUN_ATTEMPT, env.GITHUB_JOB, env.GITHUB_ACTION].join('\n')
    : randomUUID()
  const digest = createHash('sha256').update(`${run}\n${agent.name}\n${agent.description ?? ''}`).digest('hex')
  return `register-agent-${digest.slice(0, 40)}`
}
