/**
 * The Idempotency-Key of a registration: derived from the run (id, attempt, job, step) and
 * the request, so a retried request — even from a re-started process of the same attempt —
 * sends the same key and cannot create a second agent; a new run attempt gets a new key.
 * Uses the global WebCrypto rather than importing node:crypto, whose load would be a third
 * of an action's start-up even on runs that never register anything.
 */
import type { Env } from './inputs'

export async function idempotencyKey(env: Env, agent: { name: string; description?: string }): Promise<string> {
  // Outside a runner there is no run to tie it to: unique per process, stable across its retries.
  const run = env.GITHUB_RUN_ID
    ? [env.GITHUB_REPOSITORY, env.GITHUB_RUN_ID, env.GITHUB_RUN_ATTEMPT, env.GITHUB_JOB, env.GITHUB_ACTION].join('\n')
    : globalThis.crypto.randomUUID()
  const digest = await globalThis.crypto.subtle.digest('SHA-256', new TextEncoder().encode(`${run}\n${agent.name}\n${agent.description ?? ''}`))
  return `register-agent-${Buffer.from(digest).toString('hex').slice(0, 40)}`
}
