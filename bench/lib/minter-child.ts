/**
 * One token-minting process. The first one runs the LocalOidcIssuer the server trusts (its
 * JWKS stays reachable while the server verifies); the others sign with the same key and
 * issuer URL (MINTER_SHARED_ISSUER), so every token is of one issuer: the server binds
 * agents and policies to the issuer. Several run side by side so minting uses every core.
 */
import { LocalOidcIssuer, githubClaims, type RepoIdentity } from '../../shared/testing/oidc-issuer'
import type { MintReply, MintRequest, MinterMessage, SharedIssuer } from './minter-protocol'

const shared = process.env.MINTER_SHARED_ISSUER ? (JSON.parse(process.env.MINTER_SHARED_ISSUER) as SharedIssuer) : undefined
const issuer = await LocalOidcIssuer.start(shared ? { signingKey: shared.signingKey } : {})
const issuerUrl = shared?.url ?? issuer.url
process.send!({ type: 'ready', url: issuerUrl, signingKey: shared?.signingKey ?? (await issuer.exportSigningKey()) } satisfies MinterMessage)

process.on('message', (message: MintRequest) => {
  void mint(message).then(
    (tokens) => process.send!({ type: 'minted', id: message.id, tokens } satisfies MintReply),
    (error: unknown) => process.send!({ type: 'failed', id: message.id, error: String(error) } satisfies MintReply)
  )
})
process.on('disconnect', () => void issuer.close().then(() => process.exit(0)))

async function mint(request: MintRequest): Promise<string[]> {
  const tokens: string[] = []
  for (let i = 0; i < request.count; i++) {
    const identity: RepoIdentity = request.distinctRepositories
      ? {
          // A distinct repository per token: first-time sign-ups.
          repository: `${request.identity.repository}-${request.distinctRepositories.prefix}-${i}`,
          repositoryId: String(Number(request.identity.repositoryId) + request.distinctRepositories.offset + i),
          ownerId: request.identity.ownerId
        }
      : request.identity
    tokens.push(await issuer.mint({ audience: request.audience, claims: githubClaims(identity), lifetimeSeconds: request.lifetimeSeconds, issuer: issuerUrl }))
  }
  return tokens
}
