/**
 * Finding 5: with SIGNING_KEYS_SECRET set the private signing keys are encrypted at rest
 * (AES-256-GCM, a key derived from the secret and a per-key salt): the database row never
 * holds the JWK's private "d". A plaintext database is encrypted in place at the first start
 * with the secret, and the server keeps signing and verifying with the same keys. A wrong or
 * missing secret for encrypted keys stops the start with a clear message.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { decodeProtectedHeader } from 'jose'
import { openDatabase } from '../../shared/server/store/open'
import { call } from '../../shared/testing/api-call'
import { LocalOidcIssuer } from '../../shared/testing/oidc-issuer'
import { startServerProcess, type ServerProcess } from '../../shared/testing/server-process'
import { ADMIN_TOKEN, client, startTestServer } from '../server/helpers'
import { describeStartsProcess } from '../tiers'

const SECRET = 'finding-05-test-secret-0123456789abcdefghij'
const OTHER_SECRET = 'finding-05-another-secret-0123456789abcdefg'

interface KeyRow {
  kid: string
  status: string
  private_jwk: Record<string, unknown> | string | null
}

const parsed = (value: KeyRow['private_jwk']): Record<string, unknown> | null => (typeof value === 'string' ? (JSON.parse(value) as Record<string, unknown>) : value)

/** The signing_keys rows of a stopped server's embedded database. */
async function keyRows(dataDir: string): Promise<KeyRow[]> {
  const db = await openDatabase({ dataDir })
  try {
    return (await db.query<KeyRow>('SELECT kid, status, private_jwk FROM signing_keys ORDER BY created_at')).rows
  } finally {
    await db.close()
  }
}

function expectEncrypted(row: KeyRow): void {
  const stored = parsed(row.private_jwk)!
  expect(stored).toMatchObject({ enc: 'A256GCM' })
  expect(stored).not.toHaveProperty('d')
  expect(JSON.stringify(stored)).not.toMatch(/"(d|x|y|kty|crv)"\s*:/)
}

describe('finding 5: private signing keys encrypted at rest', () => {
  it('with the secret set, every key row is encrypted (no "d"), and tokens are signed and verified', async () => {
    const server = await startTestServer({ SIGNING_KEYS_SECRET: SECRET })
    try {
      const api = client(server)
      await api.policy({ repository: 'acme/widgets' })
      expect((await api.admin('POST', '/api/v1/signing-keys/rotate')).status).toBe(201)
      const { rows } = await server.context.store.db.query<KeyRow>('SELECT kid, status, private_jwk FROM signing_keys')
      expect(rows).toHaveLength(2)
      for (const row of rows) expectEncrypted(row)
      const token = await api.bootstrap()
      expect((await api.admin('POST', '/api/v1/oauth/introspect', { token })).body.active).toBe(true)
      const registered = await api.api('POST', '/api/v1/agents', { token, body: { name: 'enc@acme.example' } })
      expect(registered.status).toBe(201)
    } finally {
      await server.close()
    }
  })

  describeStartsProcess('an existing plaintext database, then the secret', () => {
    let issuer: LocalOidcIssuer
    let dataDir: string
    let kid: string

    const start = (env: Record<string, string | undefined>): Promise<ServerProcess> => startServerProcess({ issuerUrl: issuer.url, dataDir, env: { ADMIN_TOKEN, ...env } })
    const startFailure = async (env: Record<string, string | undefined>): Promise<string> => {
      try {
        const server = await start(env)
        await server.stop()
        return ''
      } catch (error) {
        return (error as Error).message
      }
    }
    const exchange = async (server: ServerProcess): Promise<string> => {
      const res = await call(server.url, 'POST', '/api/v1/oidc/token', { body: { provider: 'github', token: await issuer.mint({ audience: server.url }) } })
      expect(res.status).toBe(200)
      return res.body.access_token as string
    }
    const introspect = async (server: ServerProcess, token: string): Promise<boolean> =>
      (await call(server.url, 'POST', '/api/v1/oauth/introspect', { token: ADMIN_TOKEN, body: { token } })).body.active as boolean

    beforeAll(async () => {
      issuer = await LocalOidcIssuer.start()
      dataDir = join(mkdtempSync(join(tmpdir(), 'federate-finding-05-enc-')), 'data')
    })
    afterAll(async () => {
      await issuer?.close()
      rmSync(join(dataDir, '..'), { recursive: true, force: true })
    })

    it('without the secret: plaintext keys, and the server says so at start', async () => {
      const server = await start({ SIGNING_KEYS_SECRET: undefined })
      try {
        await call(server.url, 'POST', '/api/v1/oidc/trust-policies', { token: ADMIN_TOKEN, body: { provider: 'github', repository: 'acme/widgets' } })
        const token = await exchange(server)
        kid = decodeProtectedHeader(token).kid!
        expect(await introspect(server, token)).toBe(true)
        expect(server.output()).toMatch(/private signing keys are stored unencrypted.*set SIGNING_KEYS_SECRET/)
      } finally {
        await server.stop()
      }
      const rows = await keyRows(dataDir)
      expect(rows.map((r) => r.kid)).toEqual([kid])
      expect(parsed(rows[0]!.private_jwk)).toHaveProperty('d')
    })

    it('the first start with the secret encrypts them in place; the same key keeps signing and verifying', async () => {
      const server = await start({ SIGNING_KEYS_SECRET: SECRET })
      try {
        expect(server.output()).not.toMatch(/unencrypted/)
        const jwks = (await call(server.url, 'GET', '/.well-known/jwks.json')).body as { keys: Array<{ kid: string }> }
        expect(jwks.keys.map((k) => k.kid)).toEqual([kid])
        const token = await exchange(server)
        expect(decodeProtectedHeader(token).kid).toBe(kid)
        expect(await introspect(server, token)).toBe(true)
      } finally {
        await server.stop()
      }
      const rows = await keyRows(dataDir)
      expect(rows.map((r) => r.kid)).toEqual([kid])
      expectEncrypted(rows[0]!)
    })

    it('a wrong secret stops the start with a clear message', async () => {
      const failure = await startFailure({ SIGNING_KEYS_SECRET: OTHER_SECRET })
      expect(failure).toMatch(/server exited with code 2 before listening/)
      expect(failure).toMatch(/bad configuration: SIGNING_KEYS_SECRET: does not decrypt signing key [-0-9a-f]{36}/)
      expect(failure).not.toContain(OTHER_SECRET)
    })

    it('no secret for encrypted keys stops the start, asking for SIGNING_KEYS_SECRET', async () => {
      const failure = await startFailure({ SIGNING_KEYS_SECRET: undefined })
      expect(failure).toMatch(/server exited with code 2 before listening/)
      expect(failure).toMatch(/bad configuration: SIGNING_KEYS_SECRET: is not set, but signing key [-0-9a-f]{36} in the database is encrypted/)
    })

    it('the right secret still starts, and the row stays encrypted', async () => {
      const server = await start({ SIGNING_KEYS_SECRET: SECRET })
      try {
        const token = await exchange(server)
        expect(await introspect(server, token)).toBe(true)
      } finally {
        await server.stop()
      }
      for (const row of await keyRows(dataDir)) expectEncrypted(row)
    })
  })
})
