/**
 * Issues and checks the server's own credentials: signed JWT access tokens (Protocol A)
 * and opaque workspace tokens (Protocol B). Every use checks the credential row, so
 * revoking a credential or disabling an identity takes effect at once, on every instance.
 */
import { createHash, randomBytes, randomUUID } from 'node:crypto'
import type { JWTPayload } from 'jose'
import type { SigningKeys } from './keys'
import type { Agent, AuditInput, Credential, NewCredential, Store, Workspace } from './store/store'

export const SCOPE_BOOTSTRAP = 'agents:write'
export const SCOPE_AGENT = 'agent'
/** Workspace tokens issued before db:read / db:write existed: they may read and write. */
export const SCOPE_WORKSPACE = 'workspace'
/** What a workspace token may do in its database; federate grants both unless asked for less. */
export const WORKSPACE_SCOPES = ['db:read', 'db:write'] as const
export type WorkspaceScope = (typeof WORKSPACE_SCOPES)[number]
const WORKSPACE_TOKEN_PREFIX = 'fws_'

export function sha256Hex(value: string): string {
  return createHash('sha256').update(value).digest('hex')
}

export interface IssuedToken {
  token: string
  credential: Credential
  expiresAt: Date
  expiresIn: number
}

/** The audit event of an issuance, given the new credential's id and scope. */
export type IssuanceAudit = (credential: { id: string; scope: string }) => Omit<AuditInput, 'credentialId'>

export interface AuthenticatedAccessToken {
  credential: Credential
  claims: JWTPayload
  agent?: Agent
}

export interface AuthenticatedWorkspaceToken {
  credential: Credential
  workspace: Workspace
}

/** Why a presented token was refused (never shown with the token). */
export type TokenRejection = 'malformed' | 'signature' | 'unknown_credential' | 'expired' | 'revoked' | 'identity_disabled'

export class TokenRejected extends Error {
  constructor(readonly reason: TokenRejection) {
    super(`token refused: ${reason}`)
    this.name = this.constructor.name
  }
}

export class TokenService {
  constructor(
    private readonly store: Store,
    private readonly keys: SigningKeys,
    private readonly publicUrl: () => string,
    private readonly now: () => Date = () => new Date()
  ) {}

  /** The same service writing its credential rows through `store` (a transaction's). */
  withStore(store: Store): TokenService {
    return new TokenService(store, this.keys, this.publicUrl, this.now)
  }

  /**
   * A JWT for a bootstrap (agentId undefined) or agent-scoped exchange. With `audit`, its
   * event and (agent-scoped) the agent's last use are written with the credential row, atomically.
   */
  async issueAccessToken(input: {
    /** The OIDC issuer of the exchanged token: what the credential (and an agent it registers) is bound to. */
    issuer: string
    repository: string
    repositoryId: string
    agentId?: string
    lifetimeSeconds: number
    /** Space-separated; default: `agent` for an agent, `agents:write` for a bootstrap. */
    scope?: string
    /** Default: the server's own URL (the only audience its endpoints accept). */
    audience?: string
    audit?: IssuanceAudit
  }): Promise<IssuedToken> {
    const nowSeconds = Math.floor(this.now().getTime() / 1000)
    const exp = nowSeconds + input.lifetimeSeconds
    const expiresAt = new Date(exp * 1000)
    const scope = input.scope ?? (input.agentId ? SCOPE_AGENT : SCOPE_BOOTSTRAP)
    const id = randomUUID()
    const subject = input.agentId ?? `repo:${input.repository}`
    // RFC 9068: iss, aud, sub, client_id, iat (keys.sign), exp, jti; header typ at+jwt (keys.ts).
    const token = await this.keys.sign({
      iss: this.publicUrl(),
      aud: input.audience ?? this.publicUrl(),
      sub: subject,
      client_id: subject,
      jti: id,
      exp,
      scope,
      repository: input.repository,
      repository_id: input.repositoryId
    })
    const credential = await this.saveCredential(
      {
        id,
        kind: input.agentId ? 'agent' : 'bootstrap',
        issuer: input.issuer,
        agentId: input.agentId,
        scope,
        repository: input.repository,
        repositoryId: input.repositoryId,
        tokenSha256: sha256Hex(token),
        expiresAt
      },
      input.audit,
      input.agentId
    )
    return { token, credential, expiresAt, expiresIn: input.lifetimeSeconds }
  }

  /** An opaque random workspace token; only its SHA-256 is stored (with `audit`'s event when given). */
  async issueWorkspaceToken(workspace: Workspace, lifetimeSeconds: number, audit?: IssuanceAudit, scope: string = WORKSPACE_SCOPES.join(' ')): Promise<IssuedToken> {
    const token = WORKSPACE_TOKEN_PREFIX + randomBytes(32).toString('base64url')
    const expiresAt = new Date(Math.floor(this.now().getTime() / 1000) * 1000 + lifetimeSeconds * 1000)
    const credential = await this.saveCredential(
      {
        id: randomUUID(),
        kind: 'workspace',
        issuer: workspace.issuer,
        workspaceId: workspace.id,
        scope,
        repository: workspace.repository,
        repositoryId: workspace.repositoryId,
        tokenSha256: sha256Hex(token),
        expiresAt
      },
      audit
    )
    return { token, credential, expiresAt, expiresIn: lifetimeSeconds }
  }

  /** The credential row alone, or with its audit event (and the agent's last use) in one statement. */
  private saveCredential(credential: NewCredential & { id: string }, audit?: IssuanceAudit, touchAgentId?: string): Promise<Credential> {
    if (!audit) return this.store.credentials.create(credential)
    return this.store.credentials.createWithAudit(credential, audit({ id: credential.id, scope: credential.scope }), touchAgentId)
  }

  /**
   * Signature, issuer, audience, expiry, then the credential row and the identity. A token
   * for another audience is no credential of this server; introspection (`anyAudience`) still reads it.
   */
  async authenticateAccessToken(token: string, options: { anyAudience?: boolean } = {}): Promise<AuthenticatedAccessToken> {
    let claims: JWTPayload
    try {
      claims = await this.keys.verify(token, { issuer: this.publicUrl(), ...(options.anyAudience ? {} : { audience: this.publicUrl() }) })
    } catch (error) {
      const expired = (error as { code?: string }).code === 'ERR_JWT_EXPIRED'
      throw new TokenRejected(expired ? 'expired' : 'signature')
    }
    const credential = typeof claims.jti === 'string' ? await this.store.credentials.get(claims.jti) : undefined
    if (!credential || credential.kind === 'workspace') throw new TokenRejected('unknown_credential')
    this.checkLive(credential)
    let agent: Agent | undefined
    if (credential.agentId) {
      agent = await this.store.agents.get(credential.agentId)
      if (!agent || agent.status !== 'active') throw new TokenRejected('identity_disabled')
      if (agent.expiresAt && agent.expiresAt.getTime() <= this.now().getTime()) throw new TokenRejected('identity_disabled')
      // Issued before a rotation (even while it ran): ended by it.
      if (agent.lastRotatedAt && credential.createdAt.getTime() < agent.lastRotatedAt.getTime()) throw new TokenRejected('revoked')
    }
    return { credential, claims, agent }
  }

  async authenticateWorkspaceToken(token: string): Promise<AuthenticatedWorkspaceToken> {
    if (!token.startsWith(WORKSPACE_TOKEN_PREFIX)) throw new TokenRejected('malformed')
    const credential = await this.store.credentials.byHash(sha256Hex(token))
    if (!credential || credential.kind !== 'workspace' || !credential.workspaceId) {
      throw new TokenRejected('unknown_credential')
    }
    this.checkLive(credential)
    const workspace = await this.store.workspaces.get(credential.workspaceId)
    if (!workspace) throw new TokenRejected('unknown_credential')
    return { credential, workspace }
  }

  /**
   * Finds the credential a presented token stands for, whatever its kind, without judging
   * expiry or revocation (introspection and RFC 7009 revocation need that).
   */
  async findCredential(token: string): Promise<Credential | undefined> {
    if (token.startsWith(WORKSPACE_TOKEN_PREFIX)) {
      const credential = await this.store.credentials.byHash(sha256Hex(token))
      return credential?.kind === 'workspace' ? credential : undefined
    }
    try {
      // Expired tokens, and tokens for another audience, may still be revoked or introspected; the signature must hold.
      const claims = await this.keys.verify(token, { issuer: this.publicUrl() })
      return typeof claims.jti === 'string' ? await this.store.credentials.get(claims.jti) : undefined
    } catch (error) {
      if ((error as { code?: string }).code !== 'ERR_JWT_EXPIRED') return undefined
      const credential = await this.store.credentials.byHash(sha256Hex(token))
      return credential && credential.kind !== 'workspace' ? credential : undefined
    }
  }

  private checkLive(credential: Credential): void {
    if (credential.revokedAt) throw new TokenRejected('revoked')
    if (credential.expiresAt.getTime() <= this.now().getTime()) throw new TokenRejected('expired')
  }
}
