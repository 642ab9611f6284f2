/**
 * The real transport against real local sockets: timeouts, resets and refusals become
 * retryable errors that say what happened; answers come back with lower-cased headers.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals'
import { createServer, type Server } from 'node:http'
import type { Socket } from 'node:net'
import { ActionError } from '../../shared/client/errors'
import { createHttpTransport, networkError } from '../../shared/client/http'
import { freePort, listenLocal } from '../../shared/testing/ports'

let server: Server
let base: string
const sockets = new Set<Socket>()

beforeAll(async () => {
  server = createServer((req, res) => {
    if (req.url === '/silent') return // never answers
    if (req.url === '/reset') return void req.socket.destroy()
    if (req.url === '/cut-off' || req.url === '/cut-off-chunked') {
      // Headers and part of the body, then the connection drops (with or without Content-Length).
      const length = req.url === '/cut-off' ? { 'Content-Length': '4096' } : {}
      res.writeHead(200, { 'Content-Type': 'application/json', ...length })
      res.write('{"access_token": "eyJhbGciOi')
      return void setTimeout(() => req.socket.destroy(), 20)
    }
    req.resume().on('end', () => res.writeHead(200, { 'Content-Type': 'application/json', 'X-Thing': 'a' }).end('{"ok":true}'))
  })
  server.on('connection', (socket) => {
    sockets.add(socket)
    socket.on('close', () => sockets.delete(socket))
  })
  base = (await listenLocal(server)).url
})
afterAll(async () => {
  for (const socket of sockets) socket.destroy()
  await new Promise((ok) => server.close(ok))
})

const http = createHttpTransport()

describe('http transport', () => {
  it('returns status, lower-cased headers and body', async () => {
    const response = await http({ method: 'POST', url: `${base}/ok`, body: '{}', headers: { 'content-type': 'application/json' }, timeoutMs: 5000 })
    expect(response).toMatchObject({ status: 200, body: '{"ok":true}' })
    expect(response.headers['x-thing']).toBe('a')
  })

  it('times out a server that never answers, as a retryable timeout', async () => {
    const error = (await http({ method: 'POST', url: `${base}/silent`, body: '{}', timeoutMs: 300 }).catch((e: unknown) => e)) as ActionError
    expect(error).toBeInstanceOf(ActionError)
    expect(error.code).toBe('timeout')
    expect(error.retryable).toBe(true)
    expect(error.message).toBe(`no answer from ${base} within 0.3 s`)
  })

  it('reports a reset connection as unreachable and retryable', async () => {
    const error = (await http({ method: 'POST', url: `${base}/reset`, body: '{}', timeoutMs: 5000 }).catch((e: unknown) => e)) as ActionError
    expect(error.code).toBe('unreachable')
    expect(error.retryable).toBe(true)
    expect(error.message).toMatch(new RegExp(`^could not connect to ${base} \\((ECONNRESET|socket hang up)`))
  })

  it.each([
    ['/cut-off', 'after 28 of 4096 bytes'],
    ['/cut-off-chunked', 'after 28 bytes']
  ])('rejects an answer cut off mid-body (%s) as a retryable network error, never as success', async (path, got) => {
    const error = (await http({ method: 'POST', url: `${base}${path}`, body: '{}', timeoutMs: 5000 }).catch((e: unknown) => e)) as ActionError
    expect(error).toBeInstanceOf(ActionError)
    expect(error.code).toBe('unreachable')
    expect(error.retryable).toBe(true)
    expect(error.message).toMatch(new RegExp(`^the answer from ${base} was cut off \\(the connection (closed|failed) ${got}`))
    // The partial body (a token prefix) is not in the message.
    expect(error.message).not.toContain('eyJ')
  })

  it('reports a refused connection with its code', async () => {
    const port = await freePort() // nothing listens there: connection refused
    const error = (await http({ method: 'GET', url: `http://127.0.0.1:${port}/`, timeoutMs: 5000 }).catch((e: unknown) => e)) as ActionError
    expect(error.message).toBe(`could not connect to http://127.0.0.1:${port} (ECONNREFUSED)`)
  })
})

describe('networkError', () => {
  const request = { method: 'POST' as const, url: 'https://idp.example.com/api/v1/oidc/token', timeoutMs: 30_000 }
  it.each([
    [Object.assign(new Error('getaddrinfo ENOTFOUND idp.example.com'), { code: 'ENOTFOUND' }), 'unreachable', 'could not connect to https://idp.example.com (ENOTFOUND)'],
    [new Error('Request timeout: /api/v1/oidc/token'), 'timeout', 'no answer from https://idp.example.com within 30 s'],
    [Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' }), 'unreachable', 'could not connect to https://idp.example.com (ECONNRESET: socket hang up)']
  ])('classifies %s as retryable', (cause, code, message) => {
    const error = networkError(cause, request)
    expect([error.code, error.message, error.retryable]).toEqual([code, message, true])
  })

  it.each(['DEPTH_ZERO_SELF_SIGNED_CERT', 'CERT_HAS_EXPIRED', 'ERR_TLS_CERT_ALTNAME_INVALID', 'UNABLE_TO_VERIFY_LEAF_SIGNATURE'])(
    'never retries a TLS failure (%s)',
    (code) => {
      const error = networkError(Object.assign(new Error('bad cert'), { code }), request)
      expect([error.code, error.retryable, error.message]).toEqual(['tls', false, `the TLS certificate of https://idp.example.com is not trusted (${code}: bad cert)`])
    }
  )
})
