/**
 * Inputs, read once from the runner's INPUT_* variables into typed objects. Every
 * problem is reported by input name with the fix; all problems at once, not one per run.
 */
import { ActionError } from './errors'
import { withoutUserinfo } from './untrusted-text'

export type Env = Record<string, string | undefined>

/** Input names in one place (they are also the action.yml keys). */
export const INPUT = {
  apiUrl: 'api-url',
  audience: 'audience',
  agentName: 'agent-name',
  agentDescription: 'agent-description',
  agentId: 'agent-id',
  ttl: 'ttl',
  revoke: 'revoke',
  dryRun: 'dry-run',
  maxAttempts: 'max-attempts',
  timeoutSeconds: 'timeout-seconds'
} as const

/** The default audience of `federate` (the self sign-up server's default). */
export const FEDERATE_DEFAULT_AUDIENCE = 'persql'
export const DEFAULT_MAX_ATTEMPTS = 5
export const DEFAULT_TIMEOUT_SECONDS = 90

/** Same lookup as @actions/core's getInput: INPUT_<NAME> with spaces as underscores, trimmed. */
export function readInput(env: Env, name: string): string {
  return (env[`INPUT_${name.replace(/ /g, '_').toUpperCase()}`] ?? '').trim()
}

export interface RetryInputs {
  maxAttempts: number
  timeoutSeconds: number
}

export interface FederateInputs extends RetryInputs {
  apiUrl: URL
  audience: string
}

export interface RegisterAgentInputs extends RetryInputs {
  apiUrl: URL
  audience: string
  agentName: string
  agentDescription?: string
  dryRun: boolean
}

export interface IssueTokenInputs extends RetryInputs {
  apiUrl: URL
  audience: string
  agentId: string
  ttl?: number
  revoke: boolean
  dryRun: boolean
}

const LOOPBACK_HOSTS = new Set(['localhost', '127.0.0.1', '[::1]'])
const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i

/** Collects problems so one run reports all of them. */
class InputReader {
  readonly problems: string[] = []
  constructor(private readonly env: Env) {}

  raw(name: string): string {
    return readInput(this.env, name)
  }

  required(name: string, hint: string): string | undefined {
    const value = this.raw(name)
    if (!value) this.problems.push(`Input '${name}' is required: ${hint}.`)
    return value || undefined
  }

  apiUrl(): URL | undefined {
    const value = this.required(INPUT.apiUrl, "set it to the server's base URL, e.g. `api-url: https://idp.example.com`")
    if (value === undefined) return undefined
    // Echoed in messages without anything that may be userinfo (a password), valid URL or not.
    const shown = withoutUserinfo(value)
    let url: URL
    try {
      url = new URL(value)
    } catch {
      this.problems.push(`Input '${INPUT.apiUrl}' is not a URL ('${shown}'): use the server's base URL, e.g. https://idp.example.com.`)
      return undefined
    }
    const before = this.problems.length
    // Checked first, so that every other problem of the URL is reported along with it.
    if (url.username || url.password) {
      this.problems.push(`Input '${INPUT.apiUrl}' must not contain credentials ('${shown}'): remove the user:password@ part.`)
    }
    const loopback = LOOPBACK_HOSTS.has(url.hostname)
    if (url.protocol !== 'https:' && !(url.protocol === 'http:' && loopback)) {
      this.problems.push(
        `Input '${INPUT.apiUrl}' must use https ('${shown}'): tokens must not travel in clear; plain http is accepted only for localhost, 127.0.0.1 and [::1].`
      )
    }
    if (url.search || url.hash) {
      this.problems.push(`Input '${INPUT.apiUrl}' must not have a query or fragment ('${shown}'): use the server's base URL only.`)
    }
    if (this.problems.length > before) return undefined
    // Paths are appended to it: keep exactly one trailing slash.
    url.pathname = url.pathname.replace(/\/+$/, '') + '/'
    return url
  }

  positiveInteger(name: string, fallback: number | undefined, what: string): number | undefined {
    const value = this.raw(name)
    if (!value) return fallback
    if (!/^\d+$/.test(value) || Number(value) < 1 || !Number.isSafeInteger(Number(value))) {
      this.problems.push(`Input '${name}' must be a positive whole number (${what}), got '${value}'.`)
      return fallback
    }
    return Number(value)
  }

  /** Strict like YAML 1.2 core schema: true/True/TRUE/false/False/FALSE only. */
  boolean(name: string, fallback: boolean): boolean {
    const value = this.raw(name)
    if (!value) return fallback
    if (['true', 'True', 'TRUE'].includes(value)) return true
    if (['false', 'False', 'FALSE'].includes(value)) return false
    this.problems.push(`Input '${name}' must be true or false, got '${value}'.`)
    return fallback
  }

  audience(apiUrl: URL | undefined, fallback?: string): string {
    return this.raw(INPUT.audience) || fallback || apiUrl?.origin || ''
  }

  retry(): RetryInputs {
    return {
      maxAttempts: this.positiveInteger(INPUT.maxAttempts, DEFAULT_MAX_ATTEMPTS, 'how many times to try each request') ?? DEFAULT_MAX_ATTEMPTS,
      timeoutSeconds: this.positiveInteger(INPUT.timeoutSeconds, DEFAULT_TIMEOUT_SECONDS, 'the total time budget of all attempts, in seconds') ?? DEFAULT_TIMEOUT_SECONDS
    }
  }

  done(): void {
    if (this.problems.length === 0) return
    const message = this.problems.length === 1 ? this.problems[0]! : `Invalid inputs:\n- ${this.problems.join('\n- ')}`
    throw new ActionError('invalid_input', message)
  }
}

export function parseFederateInputs(env: Env): FederateInputs {
  const read = new InputReader(env)
  const apiUrl = read.apiUrl()
  const audience = read.audience(apiUrl, FEDERATE_DEFAULT_AUDIENCE)
  const retry = read.retry()
  read.done()
  return { apiUrl: apiUrl!, audience, ...retry }
}

export function parseRegisterAgentInputs(env: Env): RegisterAgentInputs {
  const read = new InputReader(env)
  const apiUrl = read.apiUrl()
  const audience = read.audience(apiUrl)
  const agentName = read.required(INPUT.agentName, 'name the agent with an email-format name, e.g. `agent-name: release-bot@acme.example`')
  if (agentName !== undefined && !EMAIL.test(agentName)) {
    read.problems.push(`Input '${INPUT.agentName}' must be an email-format name like release-bot@acme.example, got '${agentName}'.`)
  }
  const description = read.raw(INPUT.agentDescription)
  const dryRun = read.boolean(INPUT.dryRun, false)
  const retry = read.retry()
  read.done()
  return { apiUrl: apiUrl!, audience, agentName: agentName!, agentDescription: description || undefined, dryRun, ...retry }
}

export function parseIssueTokenInputs(env: Env): IssueTokenInputs {
  const read = new InputReader(env)
  const apiUrl = read.apiUrl()
  const audience = read.audience(apiUrl)
  const agentId = read.required(INPUT.agentId, 'pass the id that register-agent printed, e.g. `agent-id: ${{ steps.register.outputs.agent-id }}`')
  if (agentId !== undefined && !UUID.test(agentId)) {
    read.problems.push(
      `Input '${INPUT.agentId}' must be an agent id (a UUID such as 0b6f3c9e-2d7a-4c1e-9f5b-8a2e4d6c1f30), got '${agentId}': use register-agent's 'agent-id' output.`
    )
  }
  const ttl = read.positiveInteger(INPUT.ttl, undefined, 'the token lifetime in seconds; the server caps it')
  const revoke = read.boolean(INPUT.revoke, true)
  const dryRun = read.boolean(INPUT.dryRun, false)
  const retry = read.retry()
  read.done()
  return { apiUrl: apiUrl!, audience, agentId: agentId!, ttl, revoke, dryRun, ...retry }
}

/** `path` (no leading slash) under the base URL, which may itself have a path. */
export function endpoint(apiUrl: URL, path: string): string {
  return new URL(path.replace(/^\//, ''), apiUrl).toString()
}
