/**
 * HTTPS_PROXY and NO_PROXY are honoured: the shipped bundle runs as a child process (as
 * the runner starts it) against https://idp.example.test, reachable only through a local
 * CONNECT proxy that tunnels to a local TLS server (certificate from a test CA passed with
 * NODE_EXTRA_CA_CERTS). The runner's token endpoint, on 127.0.0.1, is never proxied.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from '@jest/globals'
import { execFile } from 'node:child_process'
import { readFile } from 'node:fs/promises'
import { createServer as createHttpServer, type Server } from 'node:http'
import { createServer as createHttpsServer } from 'node:https'
import { connect } from 'node:net'
import { join, resolve } from 'node:path'
import { LocalOidcIssuer } from '../../shared/testing/oidc-issuer'
import { listenLocal } from '../../shared/testing/ports'
import { stepEnv } from './helpers'

const here = import.meta.dirname ?? new URL('.', import.meta.url).pathname
const root = resolve(here, '../..')
const tls = join(here, 'fixtures/tls')
const AGENT_ID = '0b6f3c9e-2d7a-4c1e-9f5b-8a2e4d6c1f30'
const ACCESS = 'proxied-access-token-5150'

let issuer: LocalOidcIssuer
let idp: Server
let proxy: Server
let idpPort: number
let proxyPort: number
let connects: string[]
let idpRequests: string[]
/** Tunnel sockets leave the HTTP server's bookkeeping after CONNECT: closed by hand. */
const tunnels = new Set<import('node:stream').Duplex>()

beforeAll(async () => {
  issuer = await LocalOidcIssuer.start()
  idp = createHttpsServer({ key: await readFile(join(tls, 'server.key')), cert: await readFile(join(tls, 'server.pem')) }, (req, res) => {
    idpRequests.push(`${req.method} ${req.headers.host} ${req.url}`)
    req.resume().on('end', () => {
      res.writeHead(200, { 'content-type': 'application/json' })
      res.end(JSON.stringify({ access_token: ACCESS, token_type: 'Bearer', expires_in: 60, expires_at: new Date(Date.now() + 60_000).toISOString(), scope: 'agent' }))
    })
  })
  // A minimal forward proxy: CONNECT only, every tunnel goes to the local IdP.
  proxy = createHttpServer((_req, res) => res.writeHead(405).end())
  proxy.on('connect', (req, client, head) => {
    connects.push(String(req.url))
    const upstream = connect(idpPort, '127.0.0.1', () => {
      for (const socket of [client, upstream]) {
        tunnels.add(socket)
        socket.once('close', () => tunnels.delete(socket))
      }
      client.write('HTTP/1.1 200 Connection Established\r\n\r\n')
      upstream.write(head)
      upstream.pipe(client).pipe(upstream)
    })
    upstream.on('error', () => client.destroy())
    client.on('error', () => upstream.destroy())
  })
  idpPort = (await listenLocal(idp)).port
  proxyPort = (await listenLocal(proxy)).port
})
afterAll(async () => {
  for (const socket of tunnels) socket.destroy()
  idp.closeAllConnections()
  proxy.closeAllConnections()
  await Promise.all([new Promise((ok) => idp.close(ok)), new Promise((ok) => proxy.close(ok)), issuer.close()])
})
beforeEach(() => {
  connects = []
  idpRequests = []
})

function runBundle(env: Record<string, string>): Promise<{ code: number; stdout: string }> {
  const childEnv = {
    PATH: process.env.PATH ?? '',
    NODE_EXTRA_CA_CERTS: join(tls, 'ca.pem'),
    ...stepEnv({ 'api-url': 'https://idp.example.test', 'agent-id': AGENT_ID, 'max-attempts': '1', revoke: 'false' }, issuer),
    ...env
  } as Record<string, string>
  return new Promise((ok) => {
    execFile(process.execPath, [join(root, 'dist/issue-token/index.js')], { env: childEnv, timeout: 30_000 }, (error, stdout) => {
      ok({ code: error ? Number((error as { code?: number }).code ?? 1) : 0, stdout })
    })
  })
}

describe('proxies', () => {
  it('goes through HTTPS_PROXY for the API, not for the loopback token endpoint', async () => {
    const { code, stdout } = await runBundle({ HTTPS_PROXY: `http://127.0.0.1:${proxyPort}` })
    expect(stdout).not.toMatch(/::error::/)
    expect(code).toBe(0)
    expect(connects).toEqual(['idp.example.test:443'])
    expect(idpRequests).toEqual(['POST idp.example.test /api/v1/oidc/token'])
    expect(stdout).toContain(`::add-mask::${ACCESS}`)
    expect(stdout).toContain('::set-output name=expires-at::')
  })

  it('fails at once, without retrying, when the certificate is not trusted, and says what to do', async () => {
    const { code, stdout } = await runBundle({ HTTPS_PROXY: `http://127.0.0.1:${proxyPort}`, NODE_EXTRA_CA_CERTS: '', 'INPUT_MAX-ATTEMPTS': '3' })
    expect(code).toBe(1)
    expect(connects).toEqual(['idp.example.test:443'])
    expect(stdout).toMatch(
      /::error::issue-token: exchanging .*the TLS certificate of https:\/\/idp.example.test is not trusted \(UNABLE_TO_VERIFY_LEAF_SIGNATURE|::error::issue-token: exchanging .*the TLS certificate of https:\/\/idp.example.test is not trusted \(/
    )
    expect(stdout).toMatch(/NODE_EXTRA_CA_CERTS/)
  })

  it('bypasses the proxy for hosts in NO_PROXY', async () => {
    const { code, stdout } = await runBundle({ HTTPS_PROXY: `http://127.0.0.1:${proxyPort}`, NO_PROXY: 'example.test' })
    expect(code).toBe(1)
    expect(connects).toEqual([])
    // Direct: the name does not resolve here, which is the point.
    expect(stdout).toMatch(/::error::issue-token: exchanging .*could not connect to https:\/\/idp.example.test \((ENOTFOUND|EAI_AGAIN)/)
  })
})
