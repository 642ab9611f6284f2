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
  scope: 'scope',
  tokenAudience: 'token-audience',
  expiresIn: 'expires-in',
  revoke: 'revoke',
  dryRun: 'dry-run',
  maxAttempts: 'max-attempts',
  timeoutSeconds: 'timeout-seconds'
} as const

/** The default audience of `federate` (the self sign-up server's default). */
export const FEDERATE_DEFAULT_AUDIENCE = 'persql'
export const DEFAULT_MAX_ATTEMPTS = 5
export const DEFAULT_TIMEOUT_SECONDS = 90
/** Ten years: past that a date is no longer a lifetime (and toISOString() may overflow). */
const MAX_DURATION_SECONDS = 3650 * 86_400

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
  /** Requested workspace scope (`db:read`, `db:write`), space-separated; undefined: the server's default. */
  scope?: string
}

export interface RegisterAgentInputs extends RetryInputs {
  apiUrl: URL
  audience: string
  agentName: string
  agentDescription?: string
  /** The agent's lifetime in seconds (`expires-in`), sent as `expiresAt` = now + this; undefined: no end. */
  expiresIn?: number
  dryRun: boolean
}

export interface IssueTokenInputs extends RetryInputs {
  apiUrl: URL
  audience: string
  agentId: string
  ttl?: number
  /** Requested scopes, space-separated; undefined: whatever the trust policy grants. */
  scope?: string
  /** Requested audience of the issued token (sent as `audience`); undefined: the server itself. */
  tokenAudience?: string
  revoke: boolean
  dryRun: boolean
}

const LOOPBACK_HOSTS = new Set(['localhost', '127.0.0.1', '[::1]'])
const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i
/** RFC 6749 scope-token: visible ASCII but `"` and `\`. */
const SCOPE_TOKEN = /^[\x21\x23-\x5b\x5d-\x7e]+$/
const DURATION = /^(\d+)([smhd])$/
const UNIT_SECONDS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86_400 }
/** The accepted forms of a duration, for messages. */
export const DURATION_FORMS = 'a positive whole number followed by s, m, h or d, e.g. 90s, 30m, 1h, 7d'

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

  /**
   * Space-separated scopes (newlines of a YAML block too), normalised to single spaces without
   * repeats; undefined when empty. Only the syntax is checked: which scopes exist is the server's.
   */
  scope(example: string): string | undefined {
    const value = this.raw(INPUT.scope)
    if (!value) return undefined
    const tokens = [...new Set(value.split(/\s+/))]
    const bad = tokens.filter((token) => !SCOPE_TOKEN.test(token))
    if (bad.length > 0) {
      this.problems.push(`Input '${INPUT.scope}' must be scope names separated by spaces (no quotes or backslashes), e.g. \`scope: ${example}\`; got '${value}'.`)
      return undefined
    }
    return tokens.join(' ')
  }

  /** One audience (a URL or a name); undefined when empty. */
  tokenAudience(): string | undefined {
    const value = this.raw(INPUT.tokenAudience)
    if (!value) return undefined
    if (/[\s\p{Cc}]/u.test(value)) {
      this.problems.push(
        `Input '${INPUT.tokenAudience}' must be one audience without spaces, e.g. \`token-audience: https://api.example.com\`; got '${value}'. A token has one audience: issue one token per resource server.`
      )
      return undefined
    }
    return value
  }

  /** A duration (`90s`, `30m`, `1h`, `7d`) in seconds; undefined when empty. */
  duration(name: string, what: string): number | undefined {
    const value = this.raw(name)
    if (!value) return undefined
    const match = DURATION.exec(value)
    const seconds = match ? Number(match[1]) * UNIT_SECONDS[match[2]!]! : NaN
    if (!match || seconds < 1 || !Number.isSafeInteger(seconds) || seconds > MAX_DURATION_SECONDS) {
      this.problems.push(`Input '${name}' must be a duration (${what}): ${DURATION_FORMS} (at most 3650d); got '${value}'.`)
      return undefined
    }
    return seconds
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
  const scope = read.scope('db:read')
  const retry = read.retry()
  read.done()
  return { apiUrl: apiUrl!, audience, scope, ...retry }
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
  const expiresIn = read.duration(INPUT.expiresIn, "the agent's lifetime from now")
  const dryRun = read.boolean(INPUT.dryRun, false)
  const retry = read.retry()
  read.done()
  return { apiUrl: apiUrl!, audience, agentName: agentName!, agentDescription: description || undefined, expiresIn, dryRun, ...retry }
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
  const scope = read.scope('agent')
  const tokenAudience = read.tokenAudience()
  const revoke = read.boolean(INPUT.revoke, true)
  const dryRun = read.boolean(INPUT.dryRun, false)
  const retry = read.retry()
  read.done()
  return { apiUrl: apiUrl!, audience, agentId: agentId!, ttl, scope, tokenAudience, revoke, dryRun, ...retry }
}

/** `path` (no leading slash) under the base URL, which may itself have a path. */
export function endpoint(apiUrl: URL, path: string): string {
  return new URL(path.replace(/^\//, ''), apiUrl).toString()
}
