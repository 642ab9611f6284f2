/** Fetches a small JSON document from an issuer: no redirects, a timeout, a size cap. */
export async function fetchJson(url: string, timeoutMs: number, maxBytes: number): Promise<unknown> {
  let response: Response
  try {
    // redirect: 'error' so a discovery or JWKS URL on the issuer's origin cannot bounce us elsewhere.
    response = await fetch(url, {
      redirect: 'error',
      signal: AbortSignal.timeout(timeoutMs),
      headers: { accept: 'application/json' }
    })
  } catch (error) {
    const reason = (error as Error).name === 'TimeoutError' ? `no answer within ${timeoutMs} ms` : 'connection failed or redirected'
    throw new Error(`GET ${url}: ${reason}`, { cause: error })
  }
  if (!response.ok) {
    await response.body?.cancel().catch(() => undefined)
    throw new Error(`GET ${url}: HTTP ${response.status}`)
  }
  const text = await readCapped(response, maxBytes, url)
  try {
    return JSON.parse(text) as unknown
  } catch (error) {
    throw new Error(`GET ${url}: the answer is not JSON`, { cause: error })
  }
}

async function readCapped(response: Response, maxBytes: number, url: string): Promise<string> {
  const declared = Number(response.headers.get('content-length') ?? '0')
  if (declared > maxBytes) {
    await response.body?.cancel().catch(() => undefined)
    throw new Error(`GET ${url}: document larger than ${maxBytes} bytes`)
  }
  if (!response.body) return ''
  const reader = response.body.getReader() as ReadableStreamDefaultReader<Uint8Array>
  const chunks: Uint8Array[] = []
  let size = 0
  for (;;) {
    const { done, value } = await reader.read()
    if (done) break
    size += value.byteLength
    if (size > maxBytes) {
      await reader.cancel().catch(() => undefined)
      throw new Error(`GET ${url}: document larger than ${maxBytes} bytes`)
    }
    chunks.push(value)
  }
  return Buffer.concat(chunks).toString('utf8')
}
