/** Messages between the bench and its token-minting processes. */
import type { RepoIdentity } from '../../shared/testing/oidc-issuer'

export interface MintRequest {
  id: number
  count: number
  audience: string
  identity: RepoIdentity
  lifetimeSeconds: number
  /** Give every token its own repository (name suffix and repository_id offset). */
  distinctRepositories?: { prefix: string; offset: number }
}

export type MinterMessage = { type: 'ready'; url: string }
export type MintReply = { type: 'minted'; id: number; tokens: string[] } | { type: 'failed'; id: number; error: string }
