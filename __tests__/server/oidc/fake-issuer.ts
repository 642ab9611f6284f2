/**
 * A scriptable issuer for the verifier's unit tests: key rotation, slow or failing answers,
 * odd discovery documents, request counters. (The project's LocalOidcIssuer is the
 * well-behaved one; this one misbehaves on demand.)
 */
import { createServer, type Server } from 'node:http'
import { randomUUID } from 'node:crypto'
import { SignJWT, exportJWK, generateKeyPair, type CryptoKey, type JWK } from 'jose'
import { githubClaims } from '../../../shared/testing/oidc-issuer'
import { listenLocal } from '../../../shared/testing/ports'

export interface SigningKey {
  kid: string
  privateKey: CryptoKey
  publicJwk: JWK
}

export async function newSigningKey(): Promise<SigningKey> {
  const { privateKey, publicKey } = await generateKeyPair('RS256', { extractable: true })
  const kid = randomUUID()
  return { kid, privateKey, publicJwk: { ...(await exportJWK(publicKey)), kid, alg: 'RS256', use: 'sig' } }
}

export class FakeIssuer {
  readonly url: string
  discoveryRequests = 0
  jwksRequests = 0
  /** Keys served by the JWKS. */
  published: JWK[] = []
  /** Replaces the discovery document. */
  discovery?: (issuerUrl: string) => unknown
  /** Answer every request with this status. */
  failStatus?: number
  /** Answer the JWKS request with a 302 to this URL. */
  redirectJwksTo?: string
  /** Wait this long before answering. */
  delayMs = 0

  private constructor(
    private readonly server: Server,
    readonly key: SigningKey,
    url: string
  ) {
    this.url = url
    this.published = [key.publicJwk]
  }

  static async start(): Promise<FakeIssuer> {
    const key = await newSigningKey()
    // Requests come in only once `self` is set: nothing runs between the end of the await and it.
    const server = createServer((req, res) => {
      const issuer = self
      const answer = (status: number, body: unknown): void => {
        res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body))
      }
      if (req.url === '/.well-known/openid-configuration') issuer.discoveryRequests++
      if (req.url === '/jwks') issuer.jwksRequests++
      const respond = (): void => {
        if (issuer.failStatus) return answer(issuer.failStatus, { message: 'injected' })
        if (req.url === '/.well-known/openid-configuration') {
          return answer(200, issuer.discovery ? issuer.discovery(issuer.url) : { issuer: issuer.url, jwks_uri: `${issuer.url}/jwks` })
        }
        if (req.url === '/jwks' && issuer.redirectJwksTo) return void res.writeHead(302, { location: issuer.redirectJwksTo }).end()
        if (req.url === '/jwks') return answer(200, { keys: issuer.published })
        answer(404, {})
      }
      if (issuer.delayMs > 0) setTimeout(respond, issuer.delayMs).unref()
      else respond()
    })
    const self = new FakeIssuer(server, key, (await listenLocal(server)).url)
    return self
  }

  /** A GitHub-like token; `claims` override, `drop` removes claims. */
  async mint(
    options: {
      audience?: unknown
      claims?: Record<string, unknown>
      drop?: string[]
      key?: SigningKey
      header?: Record<string, unknown>
      iat?: number
    } = {}
  ): Promise<string> {
    const iat = options.iat ?? Math.floor(Date.now() / 1000)
    const payload: Record<string, unknown> = {
      ...githubClaims({ repository: 'acme/widgets', repositoryId: '123456789', ownerId: '4242' }),
      iss: this.url,
      aud: options.audience ?? 'https://idp.example.com',
      iat,
      nbf: iat - 600,
      exp: iat + 300,
      ...options.claims
    }
    for (const claim of options.drop ?? []) delete payload[claim]
    const key = options.key ?? this.key
    return new SignJWT(payload).setProtectedHeader({ alg: 'RS256', typ: 'JWT', kid: key.kid, ...options.header }).sign(key.privateKey)
  }

  async close(): Promise<void> {
    this.server.closeAllConnections()
    await new Promise<void>((resolve) => this.server.close(() => resolve()))
  }
}

/** base64url of a JSON value, for hand-made tokens. */
export const b64 = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString('base64url')
