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
}

/** POST /v1/identity/federate. */
export async function federate(session: Session, tokens: IdTokenSource, apiUrl: URL): Promise<Workspace> {
  const url = endpoint(apiUrl, 'v1/identity/federate')
  const { status, json } = await session.postJson({
    what: `federating at ${url}`,
    url,
    build: async () => ({ headers: { authorization: `Bearer ${(await tokens.get()).value}` } })
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
    expiresAt: text('expiresAt')
  }
}
