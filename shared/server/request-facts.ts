/**
 * What the request log line and the metrics need to know about a request that only the
 * route knows: who the caller turned out to be, and the error code it was refused with.
 * Kept beside the request (WeakMap), never in a global, never a secret.
 */
import type { FastifyRequest } from 'fastify'

export interface RequestFacts {
  /** "admin", an agent id, or "repo:owner/repo" once a credential or OIDC token was verified. */
  identity?: string
  /** The stable error code of a refused request (trust_policy_violation, invalid_token, ...). */
  errorCode?: string
  /** Refused before any work because its address failed too often (preauth-limit.ts). */
  blocked?: boolean
  /** What a successful request issued or created, for the metrics. */
  event?: RequestEvent
}

/** Business facts only the handler knows (metrics.ts counts them). */
export type RequestEvent = { metric: 'exchange'; scope: string } | { metric: 'federation' | 'registration'; created: boolean } | WorkspaceEvent

/** A workspace SQL API request: noted before its handler runs (so refusals count too), counts added once statements ran. */
export interface WorkspaceEvent {
  metric: 'workspace'
  endpoint: 'query' | 'batch' | 'tables' | 'info'
  statements?: number
  rowsRead?: number
  rowsWritten?: number
}

const facts = new WeakMap<FastifyRequest, RequestFacts>()

export function requestFacts(request: FastifyRequest): RequestFacts {
  let found = facts.get(request)
  if (!found) {
    found = {}
    facts.set(request, found)
  }
  return found
}

/** Records the verified caller; call it only after the credential or token was checked. */
export function noteIdentity(request: FastifyRequest, identity: string): void {
  requestFacts(request).identity = identity
}

/** Records what the request issued or created (read by the metrics once it is answered). */
export function noteEvent(request: FastifyRequest, event: RequestEvent): void {
  requestFacts(request).event = event
}
