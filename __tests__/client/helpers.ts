/**
 * Test doubles for the client: a core that records everything it is asked to print or
 * set, a clock whose sleeps only advance time, the INPUT_* environment of a step (with the
 * runner's OIDC variables pointing at the local issuer), and the shared hooks of the suites
 * that run the actions in process against the local issuer (useClientWorld).
 */
import { afterAll, beforeAll, beforeEach } from '@jest/globals'
import type { ActionCore } from '../../shared/client/core'
import type { Env } from '../../shared/client/inputs'
import type { RunDeps } from '../../shared/client/session'
import { githubClaims, LocalOidcIssuer, type RepoIdentity } from '../../shared/testing/oidc-issuer'

export interface Recorded {
  core: ActionCore
  /** Every call, in order: [method, ...args]. */
  calls: Array<[string, ...string[]]>
  outputs: Record<string, string>
  state: Record<string, string>
  masked: string[]
  failed?: string
  warnings: string[]
  infos: string[]
  debugs: string[]
  /** Everything that would reach the log (not setSecret's argument). */
  printed(): string
}

export function recordingCore(initialState: Record<string, string> = {}): Recorded {
  const rec: Recorded = {
    calls: [],
    outputs: {},
    state: { ...initialState },
    masked: [],
    warnings: [],
    infos: [],
    debugs: [],
    printed: () =>
      rec.calls
        .filter(([method]) => method !== 'setSecret')
        .map((call) => call.join(' '))
        .join('\n'),
    core: {
      setSecret: (secret) => {
        rec.calls.push(['setSecret', secret])
        rec.masked.push(secret)
      },
      setOutput: (name, value) => {
        rec.calls.push(['setOutput', name, value])
        rec.outputs[name] = value
      },
      setFailed: (message) => {
        rec.calls.push(['setFailed', message])
        rec.failed = message
      },
      saveState: (name, value) => {
        rec.calls.push(['saveState', name, value])
        rec.state[name] = value
      },
      getState: (name) => rec.state[name] ?? '',
      debug: (message) => {
        rec.calls.push(['debug', message])
        rec.debugs.push(message)
      },
      info: (message) => {
        rec.calls.push(['info', message])
        rec.infos.push(message)
      },
      warning: (message) => {
        rec.calls.push(['warning', message])
        rec.warnings.push(message)
      },
      isDebug: () => true
    }
  }
  return rec
}

export type FakeClock = Pick<RunDeps, 'now' | 'sleep' | 'random'> & { sleeps: number[]; advance(ms: number): void }

/** A clock for retry tests: sleeping advances `now` and is recorded, never waits. */
export function fakeClock(start = Date.now()): FakeClock {
  let now = start
  const sleeps: number[] = []
  return {
    sleeps,
    now: () => now,
    sleep: async (ms) => {
      sleeps.push(ms)
      now += ms
    },
    random: () => 0.5,
    advance: (ms) => {
      now += ms
    }
  }
}

/** The environment of a step: inputs as the runner passes them, plus the OIDC variables. */
export function stepEnv(inputs: Record<string, string>, issuer?: LocalOidcIssuer): Env {
  const env: Env = issuer ? { ...issuer.runnerEnv() } : {}
  for (const [name, value] of Object.entries(inputs)) env[`INPUT_${name.toUpperCase()}`] = value
  return env
}

/** What an in-process action suite works with; the fields are filled by the hooks of useClientWorld. */
export interface ClientWorld {
  issuer: LocalOidcIssuer
  /** A fresh recording core before each test (a test may replace it, e.g. to seed saved state). */
  rec: Recorded
  /** Job summaries written during the current test. */
  summaries: string[]
  /** A fresh clock before each test. */
  clock: FakeClock
}

/**
 * Registers the hooks of an in-process action suite: a local issuer (the runner's token
 * endpoint of stepEnv's environments), nock allowed to reach 127.0.0.1 only, and a
 * fresh core, summary list and clock before each test (and, given `runnerIdentity`, fresh
 * runner claims for it, so a test that changes them does not change the next one).
 * nock's mocks are the suite's own to check and clean after each test.
 */
export function useClientWorld(options: { runnerIdentity?: RepoIdentity } = {}): ClientWorld {
  const world = { summaries: [] as string[] } as ClientWorld
  // Imported here, not at the top: importing nock patches node:http, and the suites that use
  // only the other helpers (the transport's own tests among them) must keep the real one.
  let nock: typeof import('nock')
  beforeAll(async () => {
    nock = (await import('nock')).default
    world.issuer = await LocalOidcIssuer.start()
    nock.disableNetConnect()
    nock.enableNetConnect('127.0.0.1')
  })
  afterAll(async () => {
    nock.enableNetConnect()
    await world.issuer.close()
  })
  beforeEach(() => {
    world.rec = recordingCore()
    world.summaries = []
    world.clock = fakeClock()
    if (options.runnerIdentity) world.issuer.runnerClaims = githubClaims(options.runnerIdentity)
  })
  return world
}

/** Captures process.stdout while `work` runs (the real core prints workflow commands there). */
export async function captureStdout<T>(work: () => Promise<T>): Promise<{ result: T; stdout: string }> {
  const original = process.stdout.write.bind(process.stdout)
  let stdout = ''
  process.stdout.write = (chunk: string | Uint8Array) => {
    stdout += typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8')
    return true
  }
  try {
    const result = await work()
    return { result, stdout }
  } finally {
    process.stdout.write = original
  }
}
