/**
 * Reads a whole HTTP answer body, or fails when the connection ends before it is complete.
 * @actions/http-client's readBody() listens for 'end' only: a reset mid-answer leaves its
 * promise pending forever (and the action exits 0 once nothing else keeps Node alive).
 */
import type { IncomingMessage } from 'node:http'

/** The code of the error for a body cut short; http.ts makes it a retryable network error. */
export const TRUNCATED = 'ERR_BODY_TRUNCATED'

function truncated(why: string, cause?: unknown): Error {
  return Object.assign(new Error(why, cause === undefined ? undefined : { cause }), { code: TRUNCATED })
}

export function readWholeBody(message: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = []
    let received = 0
    const declared = message.headers['content-length'] === undefined ? undefined : Number(message.headers['content-length'])
    const got = (): string => `${received}${declared === undefined || Number.isNaN(declared) ? '' : ` of ${declared}`} bytes`
    message.on('data', (chunk: Buffer) => {
      chunks.push(chunk)
      received += chunk.length
    })
    message.once('end', () => {
      // Node's parser already enforces Content-Length; checked again because a short body must never pass as complete.
      if (declared !== undefined && !Number.isNaN(declared) && received !== declared) {
        reject(truncated(`got ${got()}`))
        return
      }
      resolve(Buffer.concat(chunks).toString('utf8'))
    })
    message.once('aborted', () => reject(truncated(`the connection closed after ${got()}`)))
    message.once('error', (error) => reject(truncated(`the connection failed after ${got()} (${(error as NodeJS.ErrnoException).code ?? error.message})`, error)))
    // 'close' without a complete message: neither 'end' nor 'error' may come.
    message.once('close', () => {
      if (!message.complete) reject(truncated(`the connection closed after ${got()}`))
    })
  })
}
