/**
 * The HTTP transport: @actions/http-client (it honours HTTPS_PROXY/NO_PROXY), loaded only
 * when the first request is made so that a run failing on its inputs never pays for
 * evaluating it (load-vendor.ts). No redirects, no built-in retries (retry.ts
 * decides), a timeout on every request.
 */
import { ActionError } from './errors'
import { loadVendor } from './load-vendor'
import { readWholeBody, TRUNCATED } from './read-body'
import { untrusted } from './untrusted-text'

export interface HttpRequest {
  method: 'GET' | 'POST'
  url: string
  headers?: Record<string, string>
  body?: string
  timeoutMs: number
}

export interface HttpResponse {
  status: number
  headers: Record<string, string | undefined>
  body: string
}

export type HttpTransport = (request: HttpRequest) => Promise<HttpResponse>

const NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'EPIPE', 'ETIMEDOUT', 'ECONNABORTED', 'UND_ERR_SOCKET'])

const TLS_CODES = /^(CERT_|ERR_TLS_|DEPTH_ZERO_SELF_SIGNED_CERT|SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_(VERIFY|GET_ISSUER)|ERR_SSL_)/

function seconds(ms: number): string {
  return `${Math.round(ms / 100) / 10} s`
}

/**
 * Turns a transport failure into an ActionError that says what happened (retryable unless
 * TLS). The error's text is neutralised: a TLS error names what the server's certificate says.
 */
export function networkError(error: unknown, request: HttpRequest): ActionError {
  const err = error as NodeJS.ErrnoException
  const origin = new URL(request.url).origin
  if (err?.code && TLS_CODES.test(err.code)) {
    return new ActionError('tls', `the TLS certificate of ${origin} is not trusted (${untrusted(`${err.code}: ${err.message}`)})`, { cause: error })
  }
  if (/timeout/i.test(err?.message ?? '') || err?.code === 'ETIMEDOUT') {
    return new ActionError('timeout', `no answer from ${origin} within ${seconds(request.timeoutMs)}`, { cause: error, retryable: true })
  }
  if (err?.code === TRUNCATED) {
    // Retrying is safe: register carries an Idempotency-Key and exchanges are idempotent in effect.
    return new ActionError('unreachable', `the answer from ${origin} was cut off (${untrusted(err.message)})`, { cause: error, retryable: true })
  }
  const code = err?.code && NETWORK_CODES.has(err.code) ? err.code : undefined
  const detail = code ? `${code}${err.message.includes(code) ? '' : `: ${err.message}`}` : (err?.message ?? String(error))
  return new ActionError('unreachable', `could not connect to ${origin} (${untrusted(detail)})`, { cause: error, retryable: true })
}

/** The real transport. */
export function createHttpTransport(userAgent = 'federate-action'): HttpTransport {
  return async (request) => {
    // Loaded only now: a run that fails on its inputs never pays for it.
    const { HttpClient } = await loadVendor()
    const client = new HttpClient(userAgent, [], {
      allowRedirects: false,
      allowRetries: false,
      keepAlive: false,
      socketTimeout: request.timeoutMs
    })
    let timer: NodeJS.Timeout | undefined
    // A hard bound in case the socket trickles bytes past the idle timeout. Deliberately
    // not unref()'d: while a request is in flight, this timer keeps Node from exiting.
    const hardTimeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error('Request timeout (total)')), request.timeoutMs + 1000)
    })
    let message: { destroy(): void } | undefined
    try {
      const response = await Promise.race([client.request(request.method, request.url, request.body ?? null, { ...request.headers }), hardTimeout])
      message = response.message
      const body = await Promise.race([readWholeBody(response.message), hardTimeout])
      message = undefined
      const headers: Record<string, string | undefined> = {}
      for (const [name, value] of Object.entries(response.message.headers)) {
        headers[name.toLowerCase()] = Array.isArray(value) ? value.join(', ') : value
      }
      return { status: response.message.statusCode ?? 0, headers, body }
    } catch (error) {
      // A half-read answer must not keep its socket (and the process) alive.
      message?.destroy()
      throw networkError(error, request)
    } finally {
      clearTimeout(timer)
      client.dispose()
    }
  }
}
