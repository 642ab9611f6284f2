/**
 * One token-minting process: runs its own LocalOidcIssuer (so its JWKS stays reachable
 * while the server verifies its tokens) and mints GitHub-like tokens on request over IPC.
 * Several of these run side by side so minting uses every core before a load run.
 */
import { LocalOidcIssuer, githubClaims, type RepoIdentity } from '../../shared/testing/oidc-issuer'
import type { MintReply, MintRequest, MinterMessage } from './minter-protocol'

const issuer = await LocalOidcIssuer.start()
process.send!({ type: 'ready', url: issuer.url } satisfies MinterMessage)

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
    tokens.push(await issuer.mint({ audience: request.audience, claims: githubClaims(identity), lifetimeSeconds: request.lifetimeSeconds }))
  }
  return tokens
}
