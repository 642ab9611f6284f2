/**
 * The password of a workspace's login role (PostgreSQL mode) as the workspaces table keeps
 * it: sealed with SIGNING_KEYS_SECRET when the operator set one (the same AES-256-GCM sealing
 * as the private signing keys, bound to the database name), as it is otherwise. The server
 * must be able to log in as the workspace, so a one-way hash cannot do.
 */
import { decryptPrivateJwk, encryptPrivateJwk, isEncryptedPrivateJwk } from '../key-encryption'

export function sealEngineSecret(password: string, secret: string | undefined, engineName: string): string {
  return secret ? JSON.stringify(encryptPrivateJwk({ password }, secret, `workspace:${engineName}`)) : password
}

export function openEngineSecret(stored: string, secret: string | undefined, engineName: string): string {
  if (!stored.startsWith('{')) return stored
  const sealed: unknown = JSON.parse(stored)
  if (!isEncryptedPrivateJwk(sealed)) throw new Error(`the stored password of workspace database ${engineName} is not in a known form`)
  const { password } = decryptPrivateJwk(sealed, secret, `workspace:${engineName}`)
  if (typeof password !== 'string') throw new Error(`the stored password of workspace database ${engineName} is not in a known form`)
  return password
}
