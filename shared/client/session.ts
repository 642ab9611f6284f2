/**
 * One run of an action: its dependencies (real by default, fakes in tests), the secret
 * registry, the run-wide deadline, and the JSON request helper every protocol call uses.
 */
import type { ActionCore } from './core'
import { doing } from './errors'
import { createHttpTransport, type HttpTransport } from './http'
import type { Env, RetryInputs } from './inputs'
import { callJson, type JsonAnswer } from './json-call'
import { retrying, type RetryClock, type RetryPolicy } from './retry'
import { SecretRegistry } from './secrets'
import { fileSummaryWriter, type SummaryWriter } from './summary'

/** Everything a run touches outside itself; `run(deps)` fills what is not given. */
export interface RunDeps {
  /** @actions/core or a recorder; loaded lazily when not given. */
  core: ActionCore
  http: HttpTransport
  sleep: (ms: number) => Promise<void>
  /** Milliseconds since the epoch. */
  now: () => number
  random: () => number
  env: Env
  writeSummary: SummaryWriter
}

export const realSleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

/** The defaults of everything but core (which is loaded only once inputs are valid). */
export function baseDeps(overrides: Partial<RunDeps>): Omit<RunDeps, 'core'> {
  const env = overrides.env ?? process.env
  return {
    http: overrides.http ?? createHttpTransport(),
    sleep: overrides.sleep ?? realSleep,
    now: overrides.now ?? Date.now,
    random: overrides.random ?? Math.random,
    env,
    writeSummary: overrides.writeSummary ?? fileSummaryWriter(env)
  }
}

export interface JsonPost {
  /** What this call does, for messages ("exchanging the OIDC token"). */
  what: string
  url: string
  /** Built per attempt (a retry may carry a fresh OIDC token). */
  build: () => Promise<{ headers?: Record<string, string>; body?: unknown }>
}

export class Session {
  readonly secrets: SecretRegistry
  readonly clock: RetryClock
  private readonly deadline: number

  constructor(
    readonly deps: RunDeps,
    readonly retry: RetryInputs
  ) {
    this.secrets = new SecretRegistry((secret) => deps.core.setSecret(secret))
    this.clock = { sleep: deps.sleep, now: deps.now, random: deps.random }
    this.deadline = deps.now() + retry.timeoutSeconds * 1000
  }

  get core(): ActionCore {
    return this.deps.core
  }

  /** Attempts and what is left of the run's timeout-seconds budget. */
  policy(): RetryPolicy {
    return {
      maxAttempts: this.retry.maxAttempts,
      budgetMs: Math.max(0, this.deadline - this.deps.now()),
      configuredSeconds: this.retry.timeoutSeconds
    }
  }

  /** POSTs JSON with the narrow retry; returns the 2xx answer or throws with context. */
  postJson(call: JsonPost, policy: RetryPolicy = this.policy()): Promise<JsonAnswer> {
    return doing(call.what, () =>
      retrying(
        call.what,
        policy,
        this.clock,
        (line) => this.core.info(this.secrets.scrub(line)),
        async (attempt) => {
          const { headers, body } = await call.build()
          const text = body === undefined ? undefined : JSON.stringify(body)
          return callJson(
            this.deps.http,
            {
              method: 'POST',
              url: call.url,
              // @actions/http-client adds Content-Length for string bodies.
              headers: { accept: 'application/json', ...(text === undefined ? {} : { 'content-type': 'application/json' }), ...headers },
              body: text,
              timeoutMs: attempt.timeoutMs
            },
            (text) => this.secrets.scrubEcho(text),
            this.deps.now
          )
        }
      )
    )
  }
}
