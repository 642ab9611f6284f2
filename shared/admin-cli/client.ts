/**
 * The admin API over fetch. Turns every failure into a CliError with its exit code and a
 * message that says what to check; the admin token is sent, never shown.
 */
import { CliError, EXIT } from './errors'

export type FetchLike = (input: string, init: RequestInit) => Promise<Response>

export interface ClientOptions {
  baseUrl: string
  adminToken: string
  fetch?: FetchLike
  /** Per request; default 15 s. */
  timeoutMs?: number
}

interface ErrorBody {
  error?: unknown
  error_description?: unknown
}

/** A network error's most useful words: ECONNREFUSED, ENOTFOUND, a timeout ... */
function networkReason(error: unknown): string {
  const cause = (error as { cause?: { code?: unknown; message?: unknown } }).cause
  if (typeof cause?.code === 'string') return cause.code
  if ((error as { name?: string }).name === 'TimeoutError') return 'no answer in time'
  return typeof cause?.message === 'string' ? cause.message : (error as Error).message
}

export class AdminClient {
  private readonly fetch: FetchLike
  readonly baseUrl: string

  constructor(private readonly options: ClientOptions) {
    this.fetch = options.fetch ?? ((input, init) => fetch(input, init))
    this.baseUrl = options.baseUrl.replace(/\/+$/, '')
  }

  get<T>(path: string): Promise<T> {
    return this.request('GET', path)
  }

  post<T>(path: string, body?: unknown): Promise<T> {
    return this.request('POST', path, body)
  }

  patch<T>(path: string, body: unknown): Promise<T> {
    return this.request('PATCH', path, body)
  }

  delete(path: string): Promise<void> {
    return this.request('DELETE', path)
  }

  private async request<T>(method: string, path: string, body?: unknown): Promise<T> {
    const url = `${this.baseUrl}${path}`
    let response: Response
    try {
      response = await this.fetch(url, {
        method,
        headers: {
          authorization: `Bearer ${this.options.adminToken}`,
          accept: 'application/json',
          ...(body === undefined ? {} : { 'content-type': 'application/json' })
        },
        body: body === undefined ? undefined : JSON.stringify(body),
        redirect: 'manual',
        signal: AbortSignal.timeout(this.options.timeoutMs ?? 15_000)
      })
    } catch (error) {
      throw new CliError(
        EXIT.unreachable,
        `cannot reach the federate server at ${this.baseUrl} (${networkReason(error)}); check FEDERATE_URL and that the server is running`,
        { cause: error }
      )
    }
    const text = await response.text()
    if (response.status === 204) return undefined as T
    let parsed: unknown
    try {
      parsed = JSON.parse(text)
    } catch {
      const type = response.headers.get('content-type') ?? 'no content type'
      throw new CliError(EXIT.unreachable, `${this.baseUrl} answered ${method} ${path} with HTTP ${response.status} (${type}), not the federate admin API; check FEDERATE_URL`)
    }
    if (response.ok) return parsed as T
    const { error, error_description: description } = (parsed ?? {}) as ErrorBody
    const code = typeof error === 'string' ? error : 'error'
    const detail = typeof description === 'string' ? description : text.slice(0, 200)
    if (response.status === 401) {
      throw new CliError(EXIT.unauthorized, `the server at ${this.baseUrl} refused the admin token (401 ${code}); set FEDERATE_ADMIN_TOKEN to the server's ADMIN_TOKEN`)
    }
    if (response.status >= 500) {
      throw new CliError(EXIT.unreachable, `the server at ${this.baseUrl} failed (${response.status} ${code}: ${detail}); see its log`)
    }
    throw new CliError(EXIT.refused, `${detail} (${response.status} ${code})`)
  }
}
