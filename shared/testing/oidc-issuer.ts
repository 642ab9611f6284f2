/**
 * A local OIDC issuer that behaves like GitHub's (token.actions.githubusercontent.com):
 * discovery document, JWKS, and the runner's ID-token endpoint that
 * `core.getIDToken()` calls (ACTIONS_ID_TOKEN_REQUEST_URL + bearer, `&audience=`).
 * Used by the server tests, the end-to-end tests, the benchmarks and the demo, so that
 * everything runs offline.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import { randomBytes, randomUUID } from 'node:crypto'
import type { AddressInfo } from 'node:net'
import { SignJWT, exportJWK, generateKeyPair, importJWK, type CryptoKey, type JWK, type JWTHeaderParameters } from 'jose'

/** The claims GitHub puts in an Actions OIDC token (the subset that matters here). */
export interface GitHubClaims {
  sub: string
  repository: string
  repository_id: string
  repository_owner: string
  repository_owner_id: string
  repository_visibility: string
  ref: string
  ref_type: string
  sha: string
  event_name: string
  workflow: string
  workflow_ref: string
  job_workflow_ref: string
  actor: string
  actor_id: string
  run_id: string
  run_number: string
  run_attempt: string
  runner_environment: string
  head_ref: string
  base_ref: string
  environment?: string
  [claim: string]: unknown
}

/** What a test may change about one token: claims, lifetimes, header, key. */
export interface MintOptions {
  audience: string | string[]
  claims?: Partial<GitHubClaims> & Record<string, unknown>
  /** Seconds since epoch; default now. */
  issuedAt?: number
  /** exp - iat; GitHub uses 300 s. */
  lifetimeSeconds?: number
  /** iat - nbf; GitHub uses 600 s. Negative puts nbf in the future. */
  notBeforeSkewSeconds?: number
  /** Leave a registered claim out entirely. */
  omit?: Array<'exp' | 'iat' | 'nbf' | 'iss' | 'aud' | 'sub'>
  /** Override the issuer claim (the key stays this issuer's). */
  issuer?: string
  /** Extra protected-header fields (kid, jku, jwk, x5u ...). */
  header?: Partial<JWTHeaderParameters> & Record<string, unknown>
  /** Sign with another RSA key (for example one the server does not know). */
  privateKey?: CryptoKey
}

export interface RepoIdentity {
  repository: string
  repositoryId: string
  ownerId: string
  ref?: string
  eventName?: string
  environment?: string
  workflowFile?: string
}

/** Claims for `owner/repo` as GitHub would put them in a token of a push to `ref`. */
export function githubClaims(identity: RepoIdentity): GitHubClaims {
  const ref = identity.ref ?? 'refs/heads/main'
  const [owner = ''] = identity.repository.split('/')
  const workflowFile = identity.workflowFile ?? '.github/workflows/ci.yml'
  const eventName = identity.eventName ?? 'push'
  const subject = identity.environment
    ? `repo:${identity.repository}:environment:${identity.environment}`
    : eventName === 'pull_request'
      ? `repo:${identity.repository}:pull_request`
      : `repo:${identity.repository}:ref:${ref}`
  const claims: GitHubClaims = {
    sub: subject,
    repository: identity.repository,
    repository_id: identity.repositoryId,
    repository_owner: owner,
    repository_owner_id: identity.ownerId,
    repository_visibility: 'private',
    ref,
    ref_type: ref.startsWith('refs/tags/') ? 'tag' : 'branch',
    sha: randomBytes(20).toString('hex'),
    event_name: eventName,
    workflow: 'CI',
    workflow_ref: `${identity.repository}/${workflowFile}@${ref}`,
    job_workflow_ref: `${identity.repository}/${workflowFile}@${ref}`,
    actor: 'octocat',
    actor_id: '583231',
    run_id: String(1_000_000 + Math.floor(Math.random() * 1_000_000)),
    run_number: '1',
    run_attempt: '1',
    runner_environment: 'github-hosted',
    head_ref: '',
    base_ref: ''
  }
  if (identity.environment) claims.environment = identity.environment
  return claims
}

export const DEFAULT_IDENTITY: RepoIdentity = {
  repository: 'acme/widgets',
  repositoryId: '123456789',
  ownerId: '4242'
}

/** An issuer's signing key as another process needs it to mint that issuer's tokens. */
export interface SharedSigningKey {
  kid: string
  privateJwk: JWK
  publicJwk: JWK
}

export class LocalOidcIssuer {
  /** The issuer URL (`iss`), e.g. http://127.0.0.1:40123 */
  readonly url: string
  /** Bearer the runner endpoint expects (ACTIONS_ID_TOKEN_REQUEST_TOKEN): random unless given to start(). */
  readonly requestToken: string
  /** Claims the runner endpoint puts in every token it mints; tests change them per job. */
  runnerClaims: GitHubClaims = githubClaims(DEFAULT_IDENTITY)
  /** Answer the next N runner-endpoint calls with this status (retry tests). */
  failRunnerRequests: { count: number; status: number } = { count: 0, status: 500 }
  /** Tokens minted by the runner endpoint, newest last (to check none leaked). */
  readonly issuedByRunner: string[] = []
  /** How many times the JWKS was fetched (the server must cache it). */
  jwksFetches = 0
  /** Keys published after start (addKey), served in the JWKS next to the first one. */
  private readonly addedJwks: JWK[] = []

  private constructor(
    private readonly server: Server,
    private readonly privateKey: CryptoKey,
    private readonly kid: string,
    private readonly publicJwk: JWK,
    requestToken?: string
  ) {
    const { port } = server.address() as AddressInfo
    this.url = `http://127.0.0.1:${port}`
    this.requestToken = requestToken ?? randomBytes(24).toString('base64url')
  }

  /**
   * Starts on 127.0.0.1 (a free port unless one is given), with a new signing key, or with
   * `signingKey` (another issuer's `exportSigningKey()`: processes that mint for one issuer),
   * and a random runner bearer unless `requestToken` is given (a fixed one: local-stack.ts).
   */
  static async start(options: { port?: number; signingKey?: SharedSigningKey; requestToken?: string } = {}): Promise<LocalOidcIssuer> {
    const shared = options.signingKey
    const { privateKey, publicKey } = shared
      ? { privateKey: (await importJWK(shared.privateJwk, 'RS256')) as CryptoKey, publicKey: (await importJWK(shared.publicJwk, 'RS256')) as CryptoKey }
      : await generateKeyPair('RS256', { extractable: true })
    const kid = shared?.kid ?? randomUUID()
    const publicJwk = { ...(await exportJWK(publicKey)), kid, alg: 'RS256', use: 'sig' }
    // Requests come in only once `issuer` is set: nothing runs between the end of the last await and it.
    const server = createServer((req, res) => issuer.handle(req, res))
    server.keepAliveTimeout = 1000
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject)
      server.listen(options.port ?? 0, '127.0.0.1', () => resolve())
    })
    server.unref()
    const issuer = new LocalOidcIssuer(server, privateKey, kid, publicJwk, options.requestToken)
    return issuer
  }

  /** ACTIONS_ID_TOKEN_REQUEST_URL: like GitHub's, it already has a query string. */
  get requestUrl(): string {
    return `${this.url}/_runner/idtoken?api-version=2.0`
  }

  /** The two variables a runner sets when the job has `permissions: id-token: write`. */
  runnerEnv(): Record<string, string> {
    return { ACTIONS_ID_TOKEN_REQUEST_URL: this.requestUrl, ACTIONS_ID_TOKEN_REQUEST_TOKEN: this.requestToken }
  }

  /** The signing key, for another process that mints tokens of this issuer (benchmarks). */
  async exportSigningKey(): Promise<SharedSigningKey> {
    return { kid: this.kid, privateJwk: await exportJWK(this.privateKey), publicJwk: this.publicJwk }
  }

  /** The key id this issuer signs with. */
  get keyId(): string {
    return this.kid
  }

  /** This issuer's public key as a JWK (for crafted-token tests). */
  get publicKeyJwk(): JWK {
    return this.publicJwk
  }

  /**
   * Publishes one more signing key in the JWKS, as GitHub does before it starts signing with
   * a new key. Mint with it: `mint({ privateKey, header: { kid } })`.
   */
  async addKey(): Promise<{ kid: string; privateKey: CryptoKey }> {
    const { privateKey, publicKey } = await generateKeyPair('RS256', { extractable: true })
    const kid = randomUUID()
    this.addedJwks.push({ ...(await exportJWK(publicKey)), kid, alg: 'RS256', use: 'sig' })
    return { kid, privateKey }
  }

  /** Signs a GitHub-like token. Defaults: runnerClaims, iat now, nbf iat-600, exp iat+300. */
  async mint(options: MintOptions): Promise<string> {
    const now = options.issuedAt ?? Math.floor(Date.now() / 1000)
    const payload: Record<string, unknown> = {
      jti: randomUUID(),
      ...this.runnerClaims,
      ...options.claims,
      iss: options.issuer ?? this.url,
      aud: options.audience,
      iat: now,
      nbf: now - (options.notBeforeSkewSeconds ?? 600),
      exp: now + (options.lifetimeSeconds ?? 300)
    }
    for (const claim of options.omit ?? []) delete payload[claim]
    const header = { alg: 'RS256', typ: 'JWT', kid: this.kid, ...options.header } as JWTHeaderParameters
    return new SignJWT(payload).setProtectedHeader(header).sign(options.privateKey ?? this.privateKey)
  }

  /** Stops listening and drops open connections. */
  async close(): Promise<void> {
    this.server.closeAllConnections()
    await new Promise<void>((resolve) => this.server.close(() => resolve()))
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const url = new URL(req.url ?? '/', this.url)
    const send = (status: number, body: unknown): void => {
      res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body))
    }
    if (req.method !== 'GET') return send(405, { message: 'method not allowed' })
    switch (url.pathname) {
      case '/.well-known/openid-configuration':
        return send(200, {
          issuer: this.url,
          jwks_uri: `${this.url}/.well-known/jwks`,
          subject_types_supported: ['public', 'pairwise'],
          response_types_supported: ['id_token'],
          claims_supported: Object.keys(this.runnerClaims).concat(['iss', 'aud', 'exp', 'iat', 'nbf', 'jti']),
          id_token_signing_alg_values_supported: ['RS256'],
          scopes_supported: ['openid']
        })
      case '/.well-known/jwks':
        this.jwksFetches++
        return send(200, { keys: [this.publicJwk, ...this.addedJwks] })
      case '/_runner/idtoken':
        return void this.answerRunner(req, url, send)
      default:
        return send(404, { message: 'not found' })
    }
  }

  private async answerRunner(req: IncomingMessage, url: URL, send: (s: number, b: unknown) => void): Promise<void> {
    if (req.headers.authorization !== `Bearer ${this.requestToken}`) return send(401, { message: 'bad runner token' })
    if (this.failRunnerRequests.count > 0) {
      this.failRunnerRequests.count--
      return send(this.failRunnerRequests.status, { message: 'injected failure' })
    }
    const audience = url.searchParams.get('audience') ?? 'https://github.com/' + this.runnerClaims.repository_owner
    const value = await this.mint({ audience })
    this.issuedByRunner.push(value)
    send(200, { count: 1, value })
  }
}
