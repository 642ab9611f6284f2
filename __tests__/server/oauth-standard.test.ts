/**
 * The standard OAuth surface: RFC 8414 metadata, the RFC 8693 token endpoint (its RFC 6749
 * errors), introspection clients with HTTP Basic (RFC 7662 2.1), and the whole of it driven by
 * a real OAuth client library (oauth4webapi): discovery, token exchange, introspection,
 * revocation.
 */
import { beforeAll, describe, expect, it } from '@jest/globals'
import * as oauth from 'oauth4webapi'
import { ACME, ADMIN_TOKEN, OTHER, freshIdentity, givenAgent, givenBootstrapPolicy, oidcToken, useTestServer, type ApiResponse } from './helpers'

const GRANT = 'urn:ietf:params:oauth:grant-type:token-exchange'
const ID_TOKEN = 'urn:ietf:params:oauth:token-type:id_token'
const ACCESS_TOKEN = 'urn:ietf:params:oauth:token-type:access_token'

const { server, client: c } = useTestServer()
beforeAll(async () => {
  await givenBootstrapPolicy(server, ACME)
})

/** POST /api/v1/oauth/token with form parameters. */
function tokenRequest(params: Record<string, string>, headers: Record<string, string> = {}): Promise<ApiResponse> {
  return c.api('POST', '/api/v1/oauth/token', {
    raw: new URLSearchParams(params).toString(),
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers }
  })
}

async function exchangeParams(identity = ACME, extra: Record<string, string> = {}): Promise<Record<string, string>> {
  return { grant_type: GRANT, subject_token: await oidcToken(server, server.url, identity), subject_token_type: ID_TOKEN, ...extra }
}

const basic = (id: string, secret: string): string => `Basic ${Buffer.from(`${encodeURIComponent(id)}:${encodeURIComponent(secret)}`).toString('base64')}`

async function newClient(name = 'resource server'): Promise<{ client_id: string; client_secret: string }> {
  const created = await c.admin('POST', '/api/v1/clients', { name })
  expect(created.status).toBe(201)
  return created.body
}

describe('GET /.well-known/oauth-authorization-server (RFC 8414)', () => {
  it('answers the issuer (exactly PUBLIC_URL), the endpoints and what they support, cacheable', async () => {
    const res = await c.api('GET', '/.well-known/oauth-authorization-server')
    expect(res.status).toBe(200)
    expect(res.headers.get('cache-control')).toBe('public, max-age=300')
    const base = server.url
    expect(res.body).toEqual({
      issuer: server.context.publicUrl(),
      token_endpoint: `${base}/api/v1/oauth/token`,
      introspection_endpoint: `${base}/api/v1/oauth/introspect`,
      revocation_endpoint: `${base}/api/v1/oauth/revoke`,
      jwks_uri: `${base}/.well-known/jwks.json`,
      grant_types_supported: [GRANT],
      response_types_supported: [],
      scopes_supported: ['agent', 'agents:write', 'db:read', 'db:write'],
      token_endpoint_auth_methods_supported: ['none'],
      introspection_endpoint_auth_methods_supported: ['client_secret_basic'],
      revocation_endpoint_auth_methods_supported: ['none'],
      service_documentation: `${base}/openapi.json`
    })
    // Every endpoint it names is served.
    expect((await c.api('GET', '/.well-known/jwks.json')).status).toBe(200)
  })
})

describe('POST /api/v1/oauth/token (RFC 8693)', () => {
  it('exchanges a GitHub OIDC token for an access token, not cacheable', async () => {
    const res = await tokenRequest(await exchangeParams(ACME, { client_id: 'ignored-client', requested_token_type: ACCESS_TOKEN }))
    expect(res.status).toBe(200)
    expect(res.headers.get('cache-control')).toBe('no-store')
    expect(res.body).toEqual({ access_token: expect.any(String), issued_token_type: ACCESS_TOKEN, token_type: 'Bearer', expires_in: 900, scope: 'agents:write' })
    // The same token as the exchange's: introspection knows it, registration accepts it.
    expect((await c.admin('POST', '/api/v1/oauth/introspect', { token: res.body.access_token })).body).toMatchObject({ active: true, scope: 'agents:write' })
    // Audited as the exchange is.
    const audit = (await c.admin('GET', '/api/v1/audit')).body.items as Array<{ action: string; detail: Record<string, unknown> }>
    expect(audit.find((e) => e.action === 'token.exchange')?.detail).toMatchObject({ outcome: 'issued', scope: 'agents:write' })
  })

  it('issues agent tokens with the agent_id extension', async () => {
    const identity = freshIdentity('oauth-agent')
    const agent = await givenAgent(server, identity)
    const res = await tokenRequest(await exchangeParams(identity, { agent_id: agent.agentId }))
    expect(res.status).toBe(200)
    expect(res.body.scope).toBe('agent')
    expect((await c.admin('POST', '/api/v1/oauth/introspect', { token: res.body.access_token })).body).toMatchObject({ active: true, agent_id: agent.agentId })
  })

  const refusal = (res: ApiResponse, status: number, error: string): void => {
    expect({ status: res.status, error: res.body?.error }).toEqual({ status, error })
    expect(Object.keys(res.body).sort()).toEqual(['error', 'error_description'])
    expect(res.headers.get('cache-control')).toBe('no-store')
  }

  it('400 unsupported_grant_type for another grant type; invalid_request without one', async () => {
    refusal(await tokenRequest({ grant_type: 'client_credentials' }), 400, 'unsupported_grant_type')
    refusal(await tokenRequest({ ...(await exchangeParams()), grant_type: 'authorization_code' }), 400, 'unsupported_grant_type')
    refusal(await tokenRequest({ subject_token: 'a.b.c', subject_token_type: ID_TOKEN }), 400, 'invalid_request')
  })

  it('400 invalid_request for a missing subject_token, a wrong or missing subject_token_type, a wrong requested_token_type, audience and resource both, an actor token', async () => {
    refusal(await tokenRequest({ grant_type: GRANT, subject_token_type: ID_TOKEN }), 400, 'invalid_request')
    const params = await exchangeParams()
    const { subject_token_type: _type, ...untyped } = params
    refusal(await tokenRequest(untyped), 400, 'invalid_request')
    refusal(await tokenRequest({ ...params, subject_token_type: ACCESS_TOKEN }), 400, 'invalid_request')
    refusal(await tokenRequest({ ...params, subject_token_type: 'urn:ietf:params:oauth:token-type:saml2' }), 400, 'invalid_request')
    refusal(await tokenRequest({ ...params, requested_token_type: 'urn:ietf:params:oauth:token-type:refresh_token' }), 400, 'invalid_request')
    refusal(await tokenRequest({ ...params, audience: server.url, resource: server.url }), 400, 'invalid_request')
    refusal(await tokenRequest({ ...params, actor_token: 'a.b.c', actor_token_type: ID_TOKEN }), 400, 'invalid_request')
    refusal(await tokenRequest({ ...params, agent_id: 'not-a-uuid' }), 400, 'invalid_request')
  })

  it('400 invalid_request for an untrusted or invalid subject token (never 401)', async () => {
    const foreign = await tokenRequest({ ...(await exchangeParams()), subject_token: await oidcToken(server, 'https://elsewhere.example') })
    refusal(foreign, 400, 'invalid_request')
    expect(foreign.headers.get('www-authenticate')).toBeNull()
    expect(foreign.body.error_description).toMatch(/aud/i)
    refusal(await tokenRequest({ ...(await exchangeParams()), subject_token: 'a.b.c' }), 400, 'invalid_request')
  })

  it('400 invalid_grant when no trust policy allows the repository, or the agent is unknown; the reason is kept', async () => {
    const none = await tokenRequest(await exchangeParams(OTHER))
    refusal(none, 400, 'invalid_grant')
    expect(none.body.error_description).toMatch(/^trust_policy_violation: /)
    const unknown = await tokenRequest(await exchangeParams(ACME, { agent_id: '00000000-0000-4000-8000-000000000000' }))
    refusal(unknown, 400, 'invalid_grant')
    expect(unknown.body.error_description).toMatch(/^agent_not_found: /)
  })

  it('400 invalid_scope for a scope the policy does not grant, invalid_target for another audience', async () => {
    // A bootstrap exchange grants agents:write only; the policy's scopes (when it has some) are the other engineer's tests.
    const scoped = await tokenRequest(await exchangeParams(ACME, { scope: 'agents:write db:write' }))
    refusal(scoped, 400, 'invalid_scope')
    refusal(await tokenRequest(await exchangeParams(ACME, { audience: 'https://api.elsewhere.example' })), 400, 'invalid_target')
    refusal(await tokenRequest(await exchangeParams(ACME, { resource: 'https://api.elsewhere.example' })), 400, 'invalid_target')
    const granted = await tokenRequest(await exchangeParams(ACME, { scope: 'agents:write', resource: server.url }))
    expect(granted.status).toBe(200)
  })

  it('takes form bodies only: JSON is a 415', async () => {
    const res = await c.api('POST', '/api/v1/oauth/token', { body: await exchangeParams() })
    refusal(res, 415, 'invalid_request')
  })

  it('keeps 429 and its Retry-After when the repository spent its bucket', async () => {
    const own = await startRateLimited()
    try {
      const statuses: number[] = []
      let last: ApiResponse | undefined
      for (let i = 0; i < 4; i++) {
        last = await own.token()
        statuses.push(last.status)
      }
      expect(statuses).toContain(429)
      expect(last!.status).toBe(429)
      expect(last!.body.error).toBe('rate_limited')
      expect(Number(last!.headers.get('retry-after'))).toBeGreaterThanOrEqual(1)
    } finally {
      await own.close()
    }
  })
})

/** A server of its own with a tiny per-repository bucket. */
async function startRateLimited(): Promise<{ token(): Promise<ApiResponse>; close(): Promise<void> }> {
  const { startTestServer, client } = await import('./helpers')
  const own = await startTestServer({ RATE_LIMIT_BURST: '2', RATE_LIMIT_PER_MINUTE: '1' })
  await client(own).policy({ repository: ACME.repository })
  return {
    async token() {
      const raw = new URLSearchParams({ grant_type: GRANT, subject_token: await oidcToken(own, own.url), subject_token_type: ID_TOKEN }).toString()
      return client(own).api('POST', '/api/v1/oauth/token', { raw, headers: { 'content-type': 'application/x-www-form-urlencoded' } })
    },
    close: () => own.close()
  }
}

describe('introspection clients', () => {
  it('created by the admin (secret shown once), listed without it, audited; HTTP Basic introspects', async () => {
    const created = await c.admin('POST', '/api/v1/clients', { name: 'billing api' })
    expect(created.status).toBe(201)
    expect(created.headers.get('cache-control')).toBe('no-store')
    expect(created.body).toEqual({
      client_id: expect.stringMatching(/^[0-9a-f-]{36}$/),
      client_secret: expect.stringMatching(/^fic_[A-Za-z0-9_-]{43}$/),
      name: 'billing api',
      createdAt: expect.any(String)
    })
    const { client_id: id, client_secret: secret } = created.body

    const listed = await c.admin('GET', '/api/v1/clients')
    expect(listed.status).toBe(200)
    const mine = listed.body.items.find((item: { client_id: string }) => item.client_id === id)
    expect(mine).toEqual({ client_id: id, name: 'billing api', createdAt: created.body.createdAt })
    expect(listed.text).not.toContain(secret)

    // Only a KDF hash of the secret is stored.
    const { rows } = await server.context.store.db.query<{ secret_hash: string }>('SELECT secret_hash FROM oauth_clients WHERE client_id = $1', [id])
    expect(rows[0]!.secret_hash).toMatch(/^scrypt\$16384\$8\$1\$[A-Za-z0-9_-]+\$[A-Za-z0-9_-]+$/)
    expect(rows[0]!.secret_hash).not.toContain(secret.slice(4))

    const token = await c.bootstrap()
    const res = await c.api('POST', '/api/v1/oauth/introspect', {
      raw: new URLSearchParams({ token }).toString(),
      headers: { authorization: basic(id, secret), 'content-type': 'application/x-www-form-urlencoded' }
    })
    expect(res.status).toBe(200)
    expect(res.body).toMatchObject({ active: true, scope: 'agents:write' })
    expect((await c.api('POST', '/api/v1/oauth/introspect', { body: { token: 'garbage' }, headers: { authorization: basic(id, secret) } })).body).toEqual({ active: false })

    const audit = (await c.admin('GET', '/api/v1/audit')).body.items as Array<{ action: string; detail: Record<string, unknown> }>
    const event = audit.find((e) => e.action === 'oauth_client.create' && e.detail.clientId === id)
    expect(event?.detail).toMatchObject({ outcome: 'created', name: 'billing api', by: 'admin' })
    expect(JSON.stringify(audit)).not.toContain(secret)
  })

  it('a wrong secret, an unknown client, malformed Basic: 401 invalid_client with WWW-Authenticate: Basic', async () => {
    const { client_id: id, client_secret: secret } = await newClient()
    const token = await c.bootstrap()
    for (const authorization of [
      basic(id, `${secret}x`),
      basic(id, ''),
      basic('00000000-0000-4000-8000-000000000000', secret),
      basic('not-a-uuid', secret),
      'Basic !!!not-base64',
      `Basic ${Buffer.from('no-colon').toString('base64')}`
    ]) {
      const res = await c.api('POST', '/api/v1/oauth/introspect', { body: { token }, headers: { authorization } })
      expect({ authorization, status: res.status, error: res.body?.error }).toEqual({ authorization, status: 401, error: 'invalid_client' })
      expect(res.headers.get('www-authenticate')).toMatch(/^Basic realm="federate"/)
      expect(res.text).not.toContain(secret)
    }
  })

  it("a client's credentials open nothing but introspection: every admin endpoint answers 401", async () => {
    const { client_id: id, client_secret: secret } = await newClient()
    const authorization = basic(id, secret)
    for (const [method, path, body] of [
      ['GET', '/api/v1/clients'],
      ['POST', '/api/v1/clients', { name: 'escalation' }],
      ['DELETE', `/api/v1/clients/${id}`],
      ['GET', '/api/v1/oidc/trust-policies'],
      ['POST', '/api/v1/oidc/trust-policies', { provider: 'github', repository: 'evil/repo' }],
      ['GET', '/api/v1/audit'],
      ['GET', '/api/v1/signing-keys'],
      ['POST', '/api/v1/signing-keys/rotate'],
      ['GET', '/api/v1/workspaces'],
      ['POST', '/api/v1/credentials/00000000-0000-4000-8000-000000000000/revoke']
    ] as Array<[string, string, unknown?]>) {
      const res = await c.api(method, path, { body, headers: { authorization } })
      expect({ method, path, status: res.status }).toEqual({ method, path, status: 401 })
    }
    // The secret is no admin token either.
    expect((await c.api('GET', '/api/v1/audit', { token: secret })).status).toBe(401)
    expect((await c.api('POST', '/api/v1/oauth/introspect', { token: secret, body: { token: 'x' } })).status).toBe(401)
  })

  it('deleted: its credentials stop working (401); deleting again or an unknown one is a 404; audited', async () => {
    const { client_id: id, client_secret: secret } = await newClient()
    const token = await c.bootstrap()
    const introspect = () => c.api('POST', '/api/v1/oauth/introspect', { body: { token }, headers: { authorization: basic(id, secret) } })
    expect((await introspect()).status).toBe(200)
    expect((await c.admin('DELETE', `/api/v1/clients/${id}`)).status).toBe(204)
    expect((await introspect()).status).toBe(401)
    expect((await c.admin('DELETE', `/api/v1/clients/${id}`)).status).toBe(404)
    expect((await c.admin('DELETE', '/api/v1/clients/not-a-uuid')).status).toBe(400)
    expect((await c.admin('GET', '/api/v1/clients')).body.items.map((item: { client_id: string }) => item.client_id)).not.toContain(id)
    const audit = (await c.admin('GET', '/api/v1/audit')).body.items as Array<{ action: string; detail: Record<string, unknown> }>
    expect(audit.some((e) => e.action === 'oauth_client.delete' && e.detail.clientId === id)).toBe(true)
  })

  it('refuses a bad client body and needs the admin token', async () => {
    expect((await c.admin('POST', '/api/v1/clients', {})).status).toBe(400)
    expect((await c.admin('POST', '/api/v1/clients', { name: '' })).status).toBe(400)
    expect((await c.admin('POST', '/api/v1/clients', { name: 'a\u001b[31m' })).status).toBe(400)
    expect((await c.admin('POST', '/api/v1/clients', { name: 'x', secret: 'chosen' })).status).toBe(400)
    expect((await c.api('POST', '/api/v1/clients', { body: { name: 'x' } })).status).toBe(401)
    expect((await c.api('GET', '/api/v1/clients', { token: 'wrong-admin-token' })).status).toBe(401)
  })
})

describe('driven by oauth4webapi, a standard OAuth client library', () => {
  it('discovery, token exchange, introspection with client_secret_basic, revocation, introspection says inactive', async () => {
    const issuer = new URL(server.context.publicUrl())
    // The test server is plain http on 127.0.0.1.
    const insecure = { [oauth.allowInsecureRequests]: true }
    const as = await oauth.processDiscoveryResponse(issuer, await oauth.discoveryRequest(issuer, { algorithm: 'oauth2', ...insecure }))
    expect(as.token_endpoint).toBe(`${server.url}/api/v1/oauth/token`)
    expect(as.grant_types_supported).toEqual([GRANT])

    const workflow: oauth.Client = { client_id: 'github-workflow' }
    const exchanged = await oauth.processGenericTokenEndpointResponse(
      as,
      workflow,
      await oauth.genericTokenEndpointRequest(
        as,
        workflow,
        oauth.None(),
        GRANT,
        { subject_token: await oidcToken(server, server.url), subject_token_type: ID_TOKEN, requested_token_type: ACCESS_TOKEN },
        insecure
      )
    )
    expect(exchanged).toMatchObject({ token_type: 'bearer', issued_token_type: ACCESS_TOKEN, scope: 'agents:write', expires_in: 900 })

    const created = await newClient('oauth4webapi resource server')
    const resourceServer: oauth.Client = { client_id: created.client_id }
    const introspect = async () =>
      oauth.processIntrospectionResponse(
        as,
        resourceServer,
        await oauth.introspectionRequest(as, resourceServer, oauth.ClientSecretBasic(created.client_secret), exchanged.access_token, insecure)
      )
    expect(await introspect()).toMatchObject({ active: true, scope: 'agents:write', token_type: 'Bearer', sub: `repo:${ACME.repository}` })

    // A wrong secret is an OAuth error the library reports as such.
    const wrong = await oauth.introspectionRequest(as, resourceServer, oauth.ClientSecretBasic(`${created.client_secret}x`), exchanged.access_token, insecure)
    const challenge = await oauth.processIntrospectionResponse(as, resourceServer, wrong).catch((error: unknown) => error)
    expect(challenge).toBeInstanceOf(oauth.WWWAuthenticateChallengeError)
    expect(challenge).toMatchObject({ status: 401, cause: [expect.objectContaining({ scheme: 'basic' })] })

    // Refusals of the token endpoint come back as RFC 6749 errors.
    const refused = await oauth.genericTokenEndpointRequest(
      as,
      workflow,
      oauth.None(),
      GRANT,
      { subject_token: await oidcToken(server, server.url, OTHER), subject_token_type: ID_TOKEN },
      insecure
    )
    await expect(oauth.processGenericTokenEndpointResponse(as, workflow, refused)).rejects.toMatchObject({ status: 400, error: 'invalid_grant' })

    await oauth.processRevocationResponse(await oauth.revocationRequest(as, workflow, oauth.None(), exchanged.access_token, insecure))
    expect(await introspect()).toEqual({ active: false })
    // The admin bearer still introspects too.
    expect((await c.api('POST', '/api/v1/oauth/introspect', { token: ADMIN_TOKEN, body: { token: exchanged.access_token } })).body).toEqual({ active: false })
  })
})
