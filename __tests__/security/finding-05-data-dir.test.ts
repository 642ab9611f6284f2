/**
 * Finding 5: DATA_DIR holds the private signing keys (in the database files and the WAL).
 * Another local user must not be able to read it: the server creates it 0700 and the files
 * in it 0600, refuses to start on an existing directory that group or others may use (with
 * the fix in the message), and says at start when the keys are stored unencrypted.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals'
import { chmodSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { call } from '../../shared/testing/api-call'
import { openToOthers } from '../../shared/testing/file-modes'
import { LocalOidcIssuer } from '../../shared/testing/oidc-issuer'
import { startServerProcess } from '../../shared/testing/server-process'

const mode = (path: string): number => lstatSync(path).mode & 0o777

describe('finding 5: the data directory is private to the server', () => {
  let issuer: LocalOidcIssuer
  let scratch: string

  beforeAll(async () => {
    issuer = await LocalOidcIssuer.start()
    scratch = mkdtempSync(join(tmpdir(), 'federate-finding-05-'))
  })
  afterAll(async () => {
    await issuer?.close()
    rmSync(scratch, { recursive: true, force: true })
  })

  it('creates DATA_DIR 0700 and every file in it 0600 (a real start on the embedded database)', async () => {
    const dataDir = join(scratch, 'created', 'data')
    const server = await startServerProcess({ issuerUrl: issuer.url, dataDir, env: { SIGNING_KEYS_SECRET: undefined } })
    try {
      // Some writes: a trust policy, a token (credential row, audit event), a key rotation.
      const admin = server.adminToken
      expect((await call(server.url, 'POST', '/api/v1/oidc/trust-policies', { token: admin, body: { provider: 'github', repository: 'acme/widgets' } })).status).toBe(201)
      const exchange = await call(server.url, 'POST', '/api/v1/oidc/token', { body: { provider: 'github', token: await issuer.mint({ audience: server.url }) } })
      expect(exchange.status).toBe(200)
      expect((await call(server.url, 'POST', '/api/v1/signing-keys/rotate', { token: admin })).status).toBe(201)

      expect(mode(dataDir)).toBe(0o700)
      expect(existsSync(join(dataDir, 'pg_wal'))).toBe(true)
      expect(openToOthers(dataDir)).toEqual([])
      // No encryption secret: the server says so, once.
      expect(server.output().match(/private signing keys are stored unencrypted.*set SIGNING_KEYS_SECRET/g)).toHaveLength(1)
    } finally {
      await server.stop()
    }
    expect(await server.exited).toBe(0)
    // And at rest, after a clean stop.
    expect(mode(dataDir)).toBe(0o700)
    expect(openToOthers(dataDir)).toEqual([])
  })

  it('refuses to start on an existing DATA_DIR that others can read, saying how to fix it', async () => {
    const dataDir = join(scratch, 'shared')
    mkdirSync(dataDir)
    chmodSync(dataDir, 0o755)
    let failure = ''
    try {
      const server = await startServerProcess({ issuerUrl: issuer.url, dataDir, startTimeoutMs: 60_000 })
      await server.stop()
    } catch (error) {
      failure = (error as Error).message
    }
    expect(failure).toMatch(/server exited with code 2 before listening/)
    expect(failure).toContain(`bad configuration: DATA_DIR: ${dataDir} is open to other users (mode 755)`)
    expect(failure).toContain(`chmod 700 ${dataDir}`)
    expect(failure).toMatch(/files inside/)
    // Nothing was written into it, and its mode is the operator's to change.
    expect(readdirSync(dataDir)).toEqual([])
    expect(mode(dataDir)).toBe(0o755)

    // Group-writable is refused too; 0700 starts.
    chmodSync(dataDir, 0o730)
    await expect(startServerProcess({ issuerUrl: issuer.url, dataDir, startTimeoutMs: 60_000 })).rejects.toThrow(`chmod 700 ${dataDir}`)
    chmodSync(dataDir, 0o700)
    const server = await startServerProcess({ issuerUrl: issuer.url, dataDir })
    await server.stop()
    expect(openToOthers(dataDir)).toEqual([])
  })
})
