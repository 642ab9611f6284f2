/**
 * What to do about a failure: one fix per error code and per server code of docs/protocol.md,
 * written for the workflow author and naming the token's repository, ref and audience.
 */
import { audienceText, type TokenClaims } from './claims'
import type { ActionError } from './errors'

export interface FailureContext {
  apiUrl?: URL
  audience?: string
  claims: TokenClaims
  agentId?: string
  agentName?: string
  /** The `scope` input, when given. */
  scope?: string
  /** The `token-audience` input, when given. */
  tokenAudience?: string
  /** The `expires-in` input in seconds, when given. */
  expiresIn?: number
  /** Which server family: 'agent' (Protocol A) or 'federate' (Protocol B). */
  protocol: 'agent' | 'federate'
}

function branchOf(ref: string | undefined): string | undefined {
  return ref?.startsWith('refs/heads/') ? ref.slice('refs/heads/'.length) : undefined
}

/** "repository acme/widgets, ref refs/heads/dev, audience https://idp" from the token. */
export function identityText(context: FailureContext): string {
  const { claims } = context
  const parts = [
    claims.repository ? `repository ${claims.repository}` : undefined,
    claims.ref ? `ref ${claims.ref}` : undefined,
    claims.event_name ? `event ${claims.event_name}` : undefined,
    context.audience || claims.aud ? `audience ${audienceText(claims, context.audience ?? '')}` : undefined
  ]
  return parts.filter(Boolean).join(', ')
}

function policyExample(context: FailureContext, withBranch: boolean): string {
  const { claims } = context
  const policy: Record<string, string> = { provider: 'github', repository: claims.repository ?? '<owner/repo>' }
  const branch = branchOf(claims.ref)
  if (withBranch && branch) policy.branch = branch
  if (context.agentId) policy.agentId = context.agentId
  return `POST /api/v1/oidc/trust-policies ${JSON.stringify(policy)}`
}

/** Where the server's description of what the policy allows is, or that there is none. */
function said(error: ActionError): string {
  return error.serverMessage ? 'the server says what it allows, above' : 'the server did not say what it allows: ask its operator'
}

function serverFix(error: ActionError, context: FailureContext): string | undefined {
  const { claims } = context
  const origin = context.apiUrl?.origin ?? 'the server'
  const who = identityText(context)
  const agent = context.agentId ? ` and agent ${context.agentId}` : ''
  switch (error.serverCode) {
    case 'invalid_request':
      return `The server found the request malformed. Check the inputs (agent-id must be register-agent's output${context.expiresIn ? `; an 'expires-in' the server refuses is too long for it` : ''}) and that api-url points at ${context.protocol === 'agent' ? 'an agent identity provider' : 'a federation server'}.`
    case 'invalid_token':
      return (
        `The server did not accept the GitHub OIDC token (${who}). The usual cause is the audience: ` +
        (context.protocol === 'federate'
          ? `the server expects its federate audience (FEDERATE_AUDIENCE, default 'persql'); set the 'audience' input to it.`
          : `the server expects its own URL (its PUBLIC_URL, by default the origin of api-url); set the 'audience' input to that value.`) +
        ` Otherwise the server does not trust the issuer ${claims.iss ?? 'of the token'} (OIDC_ISSUERS) or a clock is wrong.`
      )
    case 'trust_policy_violation':
      return (
        `No trust policy on ${origin} matches ${claims.repository ?? 'this repository'}${agent} (${who}). ` +
        `Ask the server's operator to create one, e.g. ${policyExample(context, true)}.`
      )
    case 'branch_not_permitted':
      return (
        `A trust policy matches ${claims.repository ?? 'this repository'}${agent} but not ref ${claims.ref ?? '(unknown)'}. ` +
        `Run the workflow from the branch the policy names, or ask the operator for a policy for this branch, e.g. ${policyExample(context, true)}.`
      )
    case 'event_not_permitted':
      return (
        `Tokens of '${claims.event_name ?? 'this'}' events are refused (${who}). pull_request_target and workflow_run run with the base ` +
        `repository's identity on code it did not review; run the job on another event, or ask the operator to list the event in the policy's "events"` +
        (context.protocol === 'federate' ? ' (FEDERATE_EVENTS on the server).' : '.')
      )
    case 'invalid_scope': {
      if (context.protocol === 'federate') {
        return (
          `The server does not grant scope '${context.scope ?? ''}' for a workspace (${said(error)}). Set the 'scope' input to db:read, db:write or ` +
          `both (space-separated), or leave it empty for the server's default.`
        )
      }
      const asked = context.scope ? `scope '${context.scope}'` : 'that scope'
      return (
        `The trust policy for ${claims.repository ?? 'this repository'}${agent} does not grant ${asked} (${said(error)}). Set the 'scope' input to ` +
        `scopes it allows, or leave it empty to get what the policy grants; or ask the server's operator to add the scope to the trust policy's "scopes"` +
        ` (and to the agent's allowedScopes, if it has them).`
      )
    }
    case 'invalid_target': {
      const asked = context.tokenAudience ? `audience '${context.tokenAudience}'` : 'that audience'
      return (
        `The trust policy for ${claims.repository ?? 'this repository'}${agent} does not allow tokens for ${asked} (${said(error)}). Set the ` +
        `'token-audience' input to an audience it allows, or leave it empty for a token whose audience is the server itself; or ask the server's ` +
        `operator to add the audience to the trust policy's "audiences".`
      )
    }
    case 'agent_expired':
      return (
        `Agent ${context.agentId ?? ''} has expired on ${origin}: the lifetime it was registered with (register-agent's 'expires-in') is over, and it ` +
        `gets no more tokens. Register a new agent under another 'agent-name' (with an 'expires-in' that covers its use), or ask the server's operator.`
      )
    case 'agent_not_found':
      return `Agent ${context.agentId ?? ''} is unknown or disabled on ${origin}. Register it with register-agent and pass its 'agent-id' output, or ask the operator to re-enable it.`
    case 'rate_limited':
      return `The server is rate-limiting ${claims.repository ?? 'this repository'}. Retry later, or raise 'timeout-seconds' so the action can wait out the server's Retry-After.`
    case 'agent_limit_reached':
      return `${claims.repository ?? 'This repository'} already owns as many agents as the server allows (MAX_AGENTS_PER_REPOSITORY). Reuse an existing 'agent-name', or ask the operator to disable agents you no longer use or to raise the limit.`
    case 'agent_exists':
      return `The name '${context.agentName ?? ''}' is already registered by another repository. Choose another 'agent-name'.`
    case 'insufficient_scope':
      return `The bootstrap token may not register agents (scope agents:write). Registration needs a trust policy for ${claims.repository ?? 'the repository'} that names no agent.`
    default:
      return undefined
  }
}

/** The fix for an error, or undefined when the message already says it all. */
export function remediation(error: ActionError, context: FailureContext): string | undefined {
  const api = context.apiUrl ? `api-url (${context.apiUrl.toString()})` : 'api-url'
  const fromServer = serverFix(error, context)
  if (fromServer) return fromServer
  switch (error.code) {
    case 'invalid_input':
      return undefined
    case 'missing_id_token_permission':
      return 'Add `permissions: id-token: write` to the job (or the workflow). Jobs of pull requests from forks never get an OIDC token.'
    case 'id_token_unavailable':
      return 'The runner could not mint an OIDC token. Re-run the job; if it keeps failing, check the GitHub status page.'
    case 'unreachable':
    case 'timeout':
      return `Check that ${api} is right and reachable from the runner (DNS, firewall; HTTPS_PROXY and NO_PROXY are honoured), or raise 'max-attempts'/'timeout-seconds' if the server is slow to start.`
    case 'tls':
      return `Use a certificate the runner trusts. On a self-hosted runner behind a company CA, point NODE_EXTRA_CA_CERTS at the CA bundle (a job-level env).`
    case 'not_json':
      return `${api} probably points at a web page (a landing or login page) rather than the API: set it to the server's base URL.`
    case 'redirected':
      return `${api} is redirected: set it to the URL the API actually answers on (scheme, host, path).`
    case 'invalid_response':
      return `The server at ${api} does not answer as this action expects: check api-url and the server's version.`
    case 'server_error':
      return `The server failed. Re-run later; if it persists, give its operator the time of this run.`
    case 'internal':
      return 'This is unexpected: re-run with debug logging (ACTIONS_STEP_DEBUG) and report it with that log. Pin the action to a release tag, whose dist/ is complete.'
    case 'rejected':
      if (error.status === 401) return `The server refused the credentials (${identityText(context)}). Check 'audience' and the server's trusted issuers.`
      if (error.status === 404) return `${api} has no such endpoint: set it to the server's base URL.`
      return undefined
    default:
      return undefined
  }
}
