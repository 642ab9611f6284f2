/**
 * One HTTP call to the server under test, answering status, headers, the raw text and the
 * parsed JSON body (undefined when there is none). The one way tests call a server over HTTP
 * (server, security, ops, scale and e2e tests). The admin API's typed client is AdminApi.
 */

export interface ApiResponse {
  status: number
  headers: Headers
  body: any // eslint-disable-line @typescript-eslint/no-explicit-any
  text: string
}

export interface CallOptions {
  token?: string
  /** JSON-encoded unless `raw` is given. */
  body?: unknown
  raw?: string | Buffer
  headers?: Record<string, string>
  /** Aborts the call after this long (a TimeoutError); default: no limit but the test's. */
  timeoutMs?: number
}

/** Calls `base` + `path` (a full URL and '' work too) and parses a JSON answer when there is one. */
export async function call(base: string, method: string, path: string, options: CallOptions = {}): Promise<ApiResponse> {
  const headers: Record<string, string> = { ...options.headers }
  if (options.token !== undefined) headers.authorization = `Bearer ${options.token}`
  let body: string | Buffer | undefined
  if (options.raw !== undefined) body = options.raw
  else if (options.body !== undefined) {
    body = JSON.stringify(options.body)
    headers['content-type'] ??= 'application/json'
  }
  const signal = options.timeoutMs === undefined ? undefined : AbortSignal.timeout(options.timeoutMs)
  const res = await fetch(`${base}${path}`, { method, headers, body, signal })
  const text = await res.text()
  let parsed: unknown
  try {
    parsed = text ? JSON.parse(text) : undefined
  } catch {
    parsed = undefined
  }
  return { status: res.status, headers: res.headers, body: parsed, text }
}
