/**
 * One JSON request and the classification of its answer: what is worth retrying, what is
 * a web page instead of the API, what the server refused and why. Both protocols' error
 * shapes are read here ({error, error_description} and {success: false, error, code}).
 * Everything of the answer that can end up in a message (codes, descriptions, headers, an
 * HTML title) is neutralised here (untrusted-text.ts): a server cannot print workflow commands.
 */
import { ActionError } from './errors'
import type { HttpRequest, HttpTransport } from './http'
import { parseRetryAfter } from './retry'
import { untrusted } from './untrusted-text'

export interface JsonAnswer {
  status: number
  headers: Record<string, string | undefined>
  json: Record<string, unknown>
}

/** Statuses that mean "try again later"; every other 4xx/5xx is final. */
export const RETRYABLE_STATUSES = new Set([429, 502, 503, 504])

const MAX_SERVER_MESSAGE = 300

/** The server's error code and text from either protocol's envelope, as the server sent them (not yet safe to print). */
export function readServerError(json: unknown): { code?: string; message?: string } {
  if (json === null || typeof json !== 'object') return {}
  const body = json as Record<string, unknown>
  const str = (v: unknown): string | undefined => (typeof v === 'string' && v ? v : undefined)
  // Protocol B: {success: false, error: "<text>", code: "<code>"}
  if (str(body.code)) return { code: str(body.code), message: str(body.error) ?? str(body.message) }
  // Protocol A: {error: "<code>", error_description: "<text>"}
  return { code: str(body.error), message: str(body.error_description) ?? str(body.message) }
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text)
  } catch {
    return undefined
  }
}

function htmlTitle(body: string): string | undefined {
  return /<title[^>]*>([^<]{1,120})<\/title>/i.exec(body)?.[1]?.trim()
}

/**
 * Sends the request and returns the parsed 2xx JSON body, or throws an ActionError
 * (retryable for 429/502/503/504 and network failures). `scrub` cleans server text.
 */
export async function callJson(transport: HttpTransport, request: HttpRequest, scrub: (text: string) => string, now: () => number): Promise<JsonAnswer> {
  const response = await transport(request)
  const { status, headers } = response
  const json = parseJson(response.body)

  if (status >= 300 && status < 400) {
    const location = headers.location ? ` to ${untrusted(scrub(headers.location))}` : ''
    throw new ActionError('redirected', `the server answered ${status}, a redirect${location}`, { status })
  }

  const isObject = json !== null && typeof json === 'object' && !Array.isArray(json)
  if (status >= 400 || !isObject) {
    const raw = readServerError(json)
    const server = { code: raw.code === undefined ? undefined : untrusted(scrub(raw.code)), message: raw.message }
    const serverMessage = server.message ? untrusted(scrub(server.message).slice(0, MAX_SERVER_MESSAGE)) : undefined
    const retryable = RETRYABLE_STATUSES.has(status)
    const details = {
      status,
      serverCode: server.code,
      serverMessage,
      retryable,
      retryAfterMs: retryable ? parseRetryAfter(headers['retry-after'], now()) : undefined
    }
    const said = server.code || serverMessage ? ` (${[server.code, serverMessage].filter(Boolean).join(': ')})` : ''
    if (!isObject && !retryable) {
      const type = headers['content-type'] ? untrusted(headers['content-type']) : 'no content type'
      const title = htmlTitle(response.body)
      const looksHtml = /html/i.test(type) || /^\s*</.test(response.body)
      const what = looksHtml ? `an HTML page${title ? ` ('${untrusted(scrub(title))}')` : ''}` : `a non-JSON answer (${type})`
      throw new ActionError('not_json', `the server answered ${status} with ${what} where JSON was expected`, details)
    }
    if (status >= 500) throw new ActionError('server_error', `the server failed with ${status}${said}`, details)
    if (status >= 400) throw new ActionError('rejected', `the server refused it with ${status}${said}`, details)
    throw new ActionError('invalid_response', `the server answered ${status} with JSON that is not an object`, details)
  }
  return { status, headers, json: json as Record<string, unknown> }
}
