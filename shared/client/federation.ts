/**
 * Protocol B (docs/protocol.md): self sign-up. The OIDC token is the bearer; the answer is the
 * {success, data} envelope; the workspace token is masked before anything else.
 */
import { ActionError } from './errors'
import { endpoint } from './inputs'
import type { IdTokenSource } from './oidc'
import type { Session } from './session'

export interface Workspace {
  token: string
  url: string
  namespace: string
  database: string
  identity: string
  created: boolean
  expiresAt: string
  /** The granted scope, when the server says (servers before scopes do not). */
  scope?: string
}

/** POST /v1/identity/federate; `scope` (space-separated) only when asked for, else no body at all, as always. */
export async function federate(session: Session, tokens: IdTokenSource, apiUrl: URL, scope?: string): Promise<Workspace> {
  const url = endpoint(apiUrl, 'v1/identity/federate')
  const { status, json } = await session.postJson({
    what: `federating at ${url}${scope ? ` for scope ${scope}` : ''}`,
    url,
    build: async () => ({ headers: { authorization: `Bearer ${(await tokens.get()).value}` }, ...(scope ? { body: { scope } } : {}) })
  })
  const data = json.data !== null && typeof json.data === 'object' ? (json.data as Record<string, unknown>) : {}
  const text = (field: string): string => (typeof data[field] === 'string' ? data[field] : '')
  const token = text('token')
  if (token) session.secrets.add(token)
  if (json.success !== true || !token || !text('url')) {
    throw new ActionError('invalid_response', `${url} answered ${status} without the expected {success: true, data: {token, url, ...}} envelope`)
  }
  return {
    token,
    url: text('url'),
    namespace: text('namespace'),
    database: text('database'),
    identity: text('identity'),
    created: typeof data.created === 'boolean' ? data.created : status === 201,
    expiresAt: text('expiresAt'),
    scope: text('scope') || undefined
  }
}
