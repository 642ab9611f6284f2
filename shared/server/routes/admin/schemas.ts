/** The admin API's bodies and answers (trust policies, identities, credentials, audit, signing keys, workspaces) and their documentation. */
import { Type, type Static } from '@sinclair/typebox'
import { DateTime, Items, NullableDateTime, NullableString, NullableUuid, StringEnum, Uuid, adminDoc, described, type RouteDocs } from '../docs'
import { Limits, Usage } from '../workspace/schemas'

const ShortString = Type.String({ maxLength: 512 })

/**
 * Shape and size only; validatePolicyInput (trust module) judges the values. `provider` and
 * `repository` are required: a body without either is refused before the handler runs.
 */
export const PolicyBody = Type.Object(
  {
    provider: Type.String({ maxLength: 64, description: 'github (the only provider)' }),
    repository: Type.String({ maxLength: 512, description: 'owner/repo, matched exactly (case-insensitive)' }),
    repositoryId: Type.Optional(ShortString),
    repositoryOwnerId: Type.Optional(ShortString),
    branch: Type.Optional(ShortString),
    environment: Type.Optional(ShortString),
    workflowRef: Type.Optional(ShortString),
    agentId: Type.Optional(Type.String({ maxLength: 64 })),
    events: Type.Optional(Type.Array(Type.String({ maxLength: 64 }), { maxItems: 32 })),
    scopes: Type.Optional(
      Type.Array(Type.String({ maxLength: 64 }), {
        maxItems: 32,
        description: 'agent policies only: the scopes it may grant ([A-Za-z0-9:._-]{1,64} each); without it: `agent`'
      })
    ),
    audiences: Type.Optional(
      Type.Array(Type.String({ maxLength: 512 }), { maxItems: 16, description: "audiences (absolute URIs or names) a token may be issued for besides the server's URL" })
    ),
    maxTtl: Type.Optional(Type.Integer({ minimum: 60, maximum: 86400, description: 'longest token lifetime in seconds under this policy' })),
    issuer: Type.Optional(Type.String({ maxLength: 512 }))
  },
  { additionalProperties: false }
)
export type PolicyBody = Static<typeof PolicyBody>

export const TrustPolicyView = Type.Object(
  {
    id: Uuid,
    provider: Type.Literal('github'),
    repository: Type.String({ description: 'owner/repo, matched exactly (case-insensitive)' }),
    repositoryId: Type.Optional(Type.String()),
    repositoryOwnerId: Type.Optional(Type.String()),
    branch: Type.Optional(Type.String({ description: 'matches ref == refs/heads/<branch> only' })),
    environment: Type.Optional(Type.String()),
    workflowRef: Type.Optional(Type.String({ description: 'the job_workflow_ref claim' })),
    agentId: Type.Optional(Uuid),
    events: Type.Optional(Type.Array(Type.String())),
    scopes: Type.Optional(Type.Array(Type.String(), { description: 'the scopes an agent exchange under it may be granted' })),
    audiences: Type.Optional(Type.Array(Type.String(), { description: "audiences a token may be issued for besides the server's URL" })),
    maxTtl: Type.Optional(Type.Integer({ description: 'longest token lifetime in seconds' })),
    issuer: Type.String({ description: "the OIDC issuer whose tokens the policy is for (the token's iss); a token of another issuer never matches" }),
    createdAt: DateTime
  },
  { additionalProperties: false }
)
export type TrustPolicyView = Static<typeof TrustPolicyView>

export const AgentView = Type.Object(
  {
    agentId: Uuid,
    name: Type.String(),
    description: Type.String(),
    repository: Type.String(),
    repositoryId: Type.String(),
    status: StringEnum(['active', 'disabled']),
    createdAt: DateTime,
    lastUsedAt: NullableDateTime,
    owner: Type.Union([Type.String(), Type.Null()], { description: 'who answers for the agent' }),
    allowedScopes: Type.Union([Type.Array(Type.String()), Type.Null()], { description: "a cap over every policy's scopes; null: no cap" }),
    expiresAt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()], { description: 'from this instant every exchange for the agent is 403 agent_expired' }),
    lastRotatedAt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()], { description: 'when its credentials were last revoked all at once' })
  },
  { additionalProperties: false }
)
export type AgentView = Static<typeof AgentView>

/** Any of the three; null clears. Values are judged by the handler. */
export const AgentPatchBody = Type.Object(
  {
    owner: Type.Optional(Type.Union([Type.String({ maxLength: 256 }), Type.Null()])),
    allowedScopes: Type.Optional(Type.Union([Type.Array(Type.String({ maxLength: 64 }), { maxItems: 32 }), Type.Null()])),
    expiresAt: Type.Optional(Type.Union([Type.String({ maxLength: 64, description: 'ISO 8601 date-time' }), Type.Null()]))
  },
  { additionalProperties: false, minProperties: 1 }
)
export type AgentPatchBody = Static<typeof AgentPatchBody>

export const RotatedAgentView = Type.Object(
  {
    agent: AgentView,
    revoked: Type.Integer({ minimum: 0, description: 'how many live credentials the rotation revoked' })
  },
  { additionalProperties: false }
)
export type RotatedAgentView = Static<typeof RotatedAgentView>

export const CredentialView = Type.Object(
  {
    id: Type.String({ format: 'uuid', description: 'the token id (jti); the token itself is never stored' }),
    kind: StringEnum(['bootstrap', 'agent', 'workspace']),
    scope: Type.String(),
    status: StringEnum(['active', 'expired', 'revoked']),
    agentId: NullableUuid,
    workspaceId: NullableUuid,
    repository: Type.String(),
    createdAt: DateTime,
    expiresAt: DateTime,
    lastUsedAt: NullableDateTime,
    revokedAt: NullableDateTime
  },
  { additionalProperties: false }
)
export type CredentialView = Static<typeof CredentialView>

export const AuditEventView = Type.Object(
  {
    id: Uuid,
    at: DateTime,
    action: Type.String({ description: 'token.exchange, agent.register, workspace.federate, credential.revoke, ...' }),
    identityId: NullableString,
    credentialId: NullableString,
    repository: NullableString,
    detail: Type.Record(Type.String(), Type.Unknown(), { description: 'outcome, code, reason, tokenSha256 (never a token)' })
  },
  { additionalProperties: false }
)
export type AuditEventView = Static<typeof AuditEventView>

export const SigningKeyView = Type.Object(
  {
    kid: Type.String(),
    alg: Type.String(),
    createdAt: DateTime,
    signing: Type.Boolean({ description: 'true for the key new tokens are signed with now' }),
    signsFrom: Type.String({ format: 'date-time', description: 'when it signs new tokens: 15 s after a rotation, once every instance knows it' }),
    retiresAt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()], { description: 'when the key leaves the JWKS (its last token has expired)' })
  },
  { additionalProperties: false }
)
export type SigningKeyView = Static<typeof SigningKeyView>

/** Optional: no body or `{}` is a normal rotation. */
export const RotateBody = Type.Object(
  {
    emergency: Type.Optional(
      Type.Boolean({
        description:
          'true when a key may have leaked: the new key signs at once, every other key leaves the JWKS now and every token it signed is refused (other instances within 10 s); default false'
      })
    )
  },
  { additionalProperties: false, description: 'optional: no body, or {}, is a normal rotation' }
)
export type RotateBody = Static<typeof RotateBody>

export const WorkspaceAdminView = Type.Object(
  {
    namespace: Type.String({ description: 'the path segment of its URL, /v1/db/<namespace>/<database>' }),
    database: Type.String(),
    identity: Type.String({ description: 'the repository (owner/repo) it belongs to' }),
    issuer: Type.String({ description: 'the OIDC issuer of that repository' }),
    createdAt: DateTime,
    lastUsedAt: NullableDateTime,
    disabled: Type.Boolean({ description: 'true: its tokens and federate answer 403 workspace_disabled; its data is kept' }),
    disabledAt: NullableDateTime,
    usage: Usage,
    limits: Limits
  },
  { additionalProperties: false }
)
export type WorkspaceAdminView = Static<typeof WorkspaceAdminView>

/** Strings: query values are not coerced (app.ts); the handler reads the number. */
export const WorkspaceListQuery = Type.Object({
  limit: Type.Optional(Type.String({ pattern: '^[0-9]{1,4}$', description: 'at most this many workspaces, 1 to 1000 (default 100)' }))
})
export type WorkspaceListQuery = Static<typeof WorkspaceListQuery>

const agentParam = { id: 'agent id (UUID)' }
const namespaceParam = { namespace: 'workspace namespace (lowercase letters, digits and dashes)' }
const workspaces = ['admin', 'workspaces']
const policies = ['admin', 'trust policies']
const keys = ['admin', 'signing keys']

export const adminDocs: RouteDocs = {
  'POST /api/v1/oidc/trust-policies': adminDoc('createTrustPolicy', 'Create a trust policy', { 201: described('created', TrustPolicyView) }, undefined, policies),
  'GET /api/v1/oidc/trust-policies': adminDoc(
    'listTrustPolicies',
    'List trust policies',
    { 200: described('all trust policies, oldest first', Items(TrustPolicyView)) },
    undefined,
    policies
  ),
  'DELETE /api/v1/oidc/trust-policies/:id': adminDoc(
    'deleteTrustPolicy',
    'Delete a trust policy',
    { 204: { description: 'deleted', type: 'null' } },
    { id: 'policy id (UUID)' },
    policies
  ),
  'GET /api/v1/agents/:id': adminDoc('getAgent', 'Show an agent', { 200: described('the agent', AgentView) }, agentParam),
  'PATCH /api/v1/agents/:id': adminDoc(
    'updateAgent',
    "Change an agent's owner, allowedScopes or expiresAt (null clears)",
    { 200: described('the agent', AgentView) },
    agentParam
  ),
  'POST /api/v1/agents/:id/credentials/rotate': adminDoc(
    'rotateAgentCredentials',
    'Revoke every live credential of the agent at once; the agent stays usable (its next exchange gets a new token)',
    { 200: described('the agent and how many credentials were revoked', RotatedAgentView) },
    agentParam
  ),
  'GET /api/v1/agents/:id/credentials': adminDoc(
    'listAgentCredentials',
    "An agent's credentials, newest first",
    { 200: described('credentials (no secrets)', Items(CredentialView)) },
    agentParam
  ),
  'POST /api/v1/agents/:id/credentials/:credentialId/revoke': adminDoc(
    'revokeAgentCredential',
    'Revoke one credential; it stops working at once',
    { 200: described('the revoked credential', CredentialView) },
    { ...agentParam, credentialId: 'credential id (UUID, the token jti)' }
  ),
  'POST /api/v1/credentials/:id/revoke': adminDoc(
    'revokeCredential',
    'Revoke any credential (bootstrap, agent or workspace token) by its id; it stops working at once',
    { 200: described('the revoked credential', CredentialView) },
    { id: "credential id (UUID: the token jti, or introspection's jti for a workspace token)" }
  ),
  'POST /api/v1/agents/:id/disable': adminDoc(
    'disableAgent',
    'Disable an agent: no new tokens, existing ones stop working',
    { 200: described('the disabled agent', AgentView) },
    agentParam
  ),
  'GET /api/v1/agents/:id/audit': adminDoc('listAgentAuditEvents', "An agent's audit events, newest first", { 200: described('events', Items(AuditEventView)) }, agentParam),
  'GET /api/v1/audit': adminDoc('listAuditEvents', 'Recent audit events of every identity (denials included), newest first', {
    200: described('events', Items(AuditEventView))
  }),
  'GET /api/v1/signing-keys': adminDoc(
    'listSigningKeys',
    'The signing keys: the one in use and the retiring ones',
    { 200: described('keys, newest first', Items(SigningKeyView)) },
    undefined,
    keys
  ),
  'POST /api/v1/signing-keys/rotate': adminDoc(
    'rotateSigningKey',
    'Add a new signing key: published at once, signing 15 s later; the old one stays in the JWKS until its last token expires. In an emergency the new key signs at once and the old ones are withdrawn',
    { 201: described('the new key', SigningKeyView) },
    undefined,
    keys
  ),
  'GET /api/v1/workspaces': adminDoc(
    'listWorkspaces',
    'List workspaces with their usage',
    { 200: described('workspaces, newest first', Items(WorkspaceAdminView)) },
    undefined,
    workspaces
  ),
  'GET /api/v1/workspaces/:namespace': adminDoc('showWorkspace', 'Show a workspace', { 200: described('the workspace', WorkspaceAdminView) }, namespaceParam, workspaces),
  'POST /api/v1/workspaces/:namespace/disable': adminDoc(
    'disableWorkspace',
    'Disable a workspace: its tokens and federate answer 403 workspace_disabled, its open sessions end; its data is kept',
    { 200: described('the workspace', WorkspaceAdminView) },
    namespaceParam,
    workspaces
  ),
  'POST /api/v1/workspaces/:namespace/enable': adminDoc(
    'enableWorkspace',
    'Enable a disabled workspace again',
    { 200: described('the workspace', WorkspaceAdminView) },
    namespaceParam,
    workspaces
  )
}
