/** Messages between the bench and its token-minting processes. */
import type { RepoIdentity, SharedSigningKey } from '../../shared/testing/oidc-issuer'

export interface MintRequest {
  id: number
  count: number
  audience: string
  identity: RepoIdentity
  lifetimeSeconds: number
  /** Give every token its own repository (name suffix and repository_id offset). */
  distinctRepositories?: { prefix: string; offset: number }
}

/** The first process serves the issuer; the others sign with its key (MINTER_SHARED_ISSUER). */
export type MinterMessage = { type: 'ready'; url: string; signingKey: SharedSigningKey }

/** What the first process shares with the others, as JSON in MINTER_SHARED_ISSUER. */
export interface SharedIssuer {
  url: string
  signingKey: SharedSigningKey
}
export type MintReply = { type: 'minted'; id: number; tokens: string[] } | { type: 'failed'; id: number; error: string }
