/**
 * federate-admin: the reference server's admin API from a shell. `run()` takes everything
 * it touches (environment, output streams, stdin, fetch, sleep) so tests can drive it; the
 * exit codes are in errors.ts and docs/server.md.
 */
import { Options, parseArgs } from './args'
import { AdminClient, type FetchLike } from './client'
import { CliError, EXIT, usageError, type ExitCode } from './errors'
import { cellText, fields, table, type Cell } from './table'
import { terminalSafe } from './terminal'

export interface CliDeps {
  env: Record<string, string | undefined>
  stdout: (text: string) => void
  stderr: (text: string) => void
  /** All of standard input (token introspect reads the token there). */
  readStdin: () => Promise<string>
  fetch?: FetchLike
  sleep?: (ms: number) => Promise<void>
}

export const USAGE = `usage: federate-admin <command> [options]

Environment: FEDERATE_URL (the server, e.g. https://idp.example.com) and
FEDERATE_ADMIN_TOKEN (its ADMIN_TOKEN). Add --json to any command for machine output.
Plain http:// is refused unless the server is this machine (127.0.0.0/8, localhost,
[::1]): the admin token would cross the network in clear. --insecure allows it anyway.

  policy create --repository OWNER/REPO [--branch B] [--agent-id ID] [--repository-id N]
                [--owner-id N] [--environment E] [--workflow-ref REF] [--events e1,e2]
                [--scopes s1,s2] (agent policies) [--audiences a1,a2] [--max-ttl SECONDS]
                [--issuer URL]  (required when the server trusts several OIDC issuers)
  policy list
  policy delete POLICY_ID
  agent show AGENT_ID                 the agent and its credentials
  agent disable AGENT_ID              no new tokens; existing ones stop working
  agent rotate AGENT_ID               revoke every live credential of the agent at once;
                                      it stays usable (its next exchange gets a new token)
  agent update AGENT_ID [--owner TEXT] [--allowed-scopes s1,s2] [--expires-at ISO-8601]
                                      change them; "none" clears one
                                      ("agents ..." works as well)
  credential revoke AGENT_ID CREDENTIAL_ID
  credentials revoke CREDENTIAL_ID    any credential (bootstrap, agent, workspace) by id
  audit tail [--agent AGENT_ID] [--limit N] [--follow [--interval S] [--for S]]
  token introspect                    reads the token from standard input
  keys list
  keys rotate                         new tokens are signed with a new key
  keys rotate --emergency             the old keys leave the JWKS now: every token they
                                      signed stops working (asks no confirmation)
  workspaces list [--limit N]         newest first, with their usage (default 100, at most 1000)
  workspaces show NAMESPACE           one workspace: owner, usage, limits
  workspaces disable NAMESPACE        its tokens and federate answer 403 workspace_disabled;
                                      its data is kept
  workspaces enable NAMESPACE         it works again
  clients create NAME                 an introspection client (HTTP Basic on introspection
                                      only); its secret is printed this once
  clients list                        introspection clients (never their secrets)
  clients delete CLIENT_ID            its credentials stop working at once

Exit codes: 0 ok, 1 the server refused, 2 usage, 3 server unreachable or failing,
4 admin token refused.
`

const BOOLEAN_OPTIONS = new Set(['json', 'follow', 'help', 'insecure', 'emergency'])
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i
const NAMESPACE = /^[a-z0-9-]{1,100}$/

type Json = Record<string, unknown>

interface Context {
  client: AdminClient
  options: Options
  args: string[]
  json: boolean
  deps: CliDeps
  print: (text: string) => void
}

function uuidArg(args: string[], index: number, what: string): string {
  const value = args[index]
  if (value === undefined) throw usageError(`missing ${what}`)
  if (!UUID.test(value)) throw usageError(`${what} must be a UUID, got "${value.slice(0, 80)}"`)
  return value
}

function namespaceArg(args: string[], index: number): string {
  const value = args[index]
  if (value === undefined) throw usageError('missing NAMESPACE')
  if (!NAMESPACE.test(value)) throw usageError(`NAMESPACE must be lowercase letters, digits and dashes, got "${value.slice(0, 80)}"`)
  return value
}

function noMoreArgs(args: string[], count: number): void {
  if (args.length > count) throw usageError(`unexpected argument "${args[count]!.slice(0, 80)}"`)
}

const str = (value: unknown): Cell => (value === undefined ? undefined : (value as Cell))

const commaList = (value: string): string[] =>
  value
    .split(',')
    .map((e) => e.trim())
    .filter(Boolean)

// --- commands ---------------------------------------------------------------------------

function policyRows(items: Json[]): string {
  return table(
    ['id', 'repository', 'branch', 'agent', 'repository id', 'environment', 'events', 'scopes', 'audiences', 'max ttl', 'created', 'issuer'],
    items.map((p) => [
      str(p.id),
      str(p.repository),
      str(p.branch),
      str(p.agentId),
      str(p.repositoryId),
      str(p.environment),
      Array.isArray(p.events) ? p.events.join(',') : undefined,
      Array.isArray(p.scopes) ? p.scopes.join(',') : undefined,
      Array.isArray(p.audiences) ? p.audiences.join(',') : undefined,
      typeof p.maxTtl === 'number' ? String(p.maxTtl) : undefined,
      str(p.createdAt),
      str(p.issuer)
    ])
  )
}

async function policyCreate(c: Context): Promise<void> {
  noMoreArgs(c.args, 0)
  const repository = c.options.string('repository')
  if (!repository) throw usageError('policy create needs --repository OWNER/REPO')
  const body: Json = { provider: 'github', repository }
  const optional: Array<[string, string]> = [
    ['branch', 'branch'],
    ['agent-id', 'agentId'],
    ['repository-id', 'repositoryId'],
    ['owner-id', 'repositoryOwnerId'],
    ['environment', 'environment'],
    ['workflow-ref', 'workflowRef'],
    ['issuer', 'issuer']
  ]
  for (const [flag, field] of optional) {
    const value = c.options.string(flag)
    if (value !== undefined) body[field] = value
  }
  const events = c.options.string('events')
  if (events !== undefined) body.events = commaList(events)
  const scopes = c.options.string('scopes')
  if (scopes !== undefined) body.scopes = commaList(scopes)
  const audiences = c.options.string('audiences')
  if (audiences !== undefined) body.audiences = commaList(audiences)
  const maxTtl = c.options.string('max-ttl')
  if (maxTtl !== undefined) {
    if (!/^[0-9]{1,6}$/.test(maxTtl)) throw usageError(`--max-ttl must be a number of seconds, got "${maxTtl.slice(0, 80)}"`)
    body.maxTtl = Number(maxTtl)
  }
  c.options.rejectUnknown()
  const policy = await c.client.post<Json>('/api/v1/oidc/trust-policies', body)
  c.print(c.json ? `${JSON.stringify(policy, null, 2)}\n` : policyRows([policy]))
}

async function policyList(c: Context): Promise<void> {
  noMoreArgs(c.args, 0)
  c.options.rejectUnknown()
  const { items } = await c.client.get<{ items: Json[] }>('/api/v1/oidc/trust-policies')
  c.print(c.json ? `${JSON.stringify(items, null, 2)}\n` : items.length ? policyRows(items) : 'no trust policies\n')
}

async function policyDelete(c: Context): Promise<void> {
  const id = uuidArg(c.args, 0, 'POLICY_ID')
  noMoreArgs(c.args, 1)
  c.options.rejectUnknown()
  await c.client.delete(`/api/v1/oidc/trust-policies/${id}`)
  c.print(c.json ? `${JSON.stringify({ deleted: id })}\n` : `deleted trust policy ${id}\n`)
}

function credentialRows(items: Json[]): string {
  return table(
    ['credential', 'kind', 'status', 'scope', 'created', 'expires', 'last used', 'revoked'],
    items.map((k) => [str(k.id), str(k.kind), str(k.status), str(k.scope), str(k.createdAt), str(k.expiresAt), str(k.lastUsedAt), str(k.revokedAt)])
  )
}

function agentFields(agent: Json): string {
  return fields([
    ['agent', str(agent.agentId)],
    ['name', str(agent.name)],
    ['description', str(agent.description)],
    ['repository', str(agent.repository)],
    ['repository id', str(agent.repositoryId)],
    ['status', str(agent.status)],
    ['owner', str(agent.owner)],
    ['allowed scopes', Array.isArray(agent.allowedScopes) ? agent.allowedScopes.join(',') : str(agent.allowedScopes)],
    ['expires', str(agent.expiresAt)],
    ['created', str(agent.createdAt)],
    ['last used', str(agent.lastUsedAt)],
    ['last rotated', str(agent.lastRotatedAt)]
  ])
}

async function agentShow(c: Context): Promise<void> {
  const id = uuidArg(c.args, 0, 'AGENT_ID')
  noMoreArgs(c.args, 1)
  c.options.rejectUnknown()
  const agent = await c.client.get<Json>(`/api/v1/agents/${id}`)
  const { items } = await c.client.get<{ items: Json[] }>(`/api/v1/agents/${id}/credentials`)
  if (c.json) return c.print(`${JSON.stringify({ ...agent, credentials: items }, null, 2)}\n`)
  c.print(`${agentFields(agent)}\n${items.length ? credentialRows(items) : 'no credentials\n'}`)
}

async function agentDisable(c: Context): Promise<void> {
  const id = uuidArg(c.args, 0, 'AGENT_ID')
  noMoreArgs(c.args, 1)
  c.options.rejectUnknown()
  const agent = await c.client.post<Json>(`/api/v1/agents/${id}/disable`)
  c.print(c.json ? `${JSON.stringify(agent, null, 2)}\n` : `disabled agent ${id} (${cellText(str(agent.name))})\n`)
}

async function agentRotate(c: Context): Promise<void> {
  const id = uuidArg(c.args, 0, 'AGENT_ID')
  noMoreArgs(c.args, 1)
  c.options.rejectUnknown()
  const answer = await c.client.post<{ agent: Json; revoked: number }>(`/api/v1/agents/${id}/credentials/rotate`)
  c.print(
    c.json
      ? `${JSON.stringify(answer, null, 2)}\n`
      : `rotated agent ${id} (${cellText(str(answer.agent.name))}): ${answer.revoked} live credential${answer.revoked === 1 ? '' : 's'} revoked; its next exchange gets a new token\n`
  )
}

async function agentUpdate(c: Context): Promise<void> {
  const id = uuidArg(c.args, 0, 'AGENT_ID')
  noMoreArgs(c.args, 1)
  const body: Json = {}
  // "none" clears a field (the API's null).
  const owner = c.options.string('owner')
  if (owner !== undefined) body.owner = owner === 'none' ? null : owner
  const scopes = c.options.string('allowed-scopes')
  if (scopes !== undefined) body.allowedScopes = scopes === 'none' ? null : commaList(scopes)
  const expiresAt = c.options.string('expires-at')
  if (expiresAt !== undefined) body.expiresAt = expiresAt === 'none' ? null : expiresAt
  c.options.rejectUnknown()
  if (Object.keys(body).length === 0) throw usageError('agent update needs --owner, --allowed-scopes or --expires-at')
  const agent = await c.client.patch<Json>(`/api/v1/agents/${id}`, body)
  c.print(c.json ? `${JSON.stringify(agent, null, 2)}\n` : agentFields(agent))
}

async function credentialRevoke(c: Context): Promise<void> {
  const agentId = uuidArg(c.args, 0, 'AGENT_ID')
  const credentialId = uuidArg(c.args, 1, 'CREDENTIAL_ID')
  noMoreArgs(c.args, 2)
  c.options.rejectUnknown()
  const credential = await c.client.post<Json>(`/api/v1/agents/${agentId}/credentials/${credentialId}/revoke`)
  c.print(c.json ? `${JSON.stringify(credential, null, 2)}\n` : `revoked credential ${credentialId} of agent ${agentId}\n`)
}

async function credentialsRevoke(c: Context): Promise<void> {
  const id = uuidArg(c.args, 0, 'CREDENTIAL_ID')
  noMoreArgs(c.args, 1)
  c.options.rejectUnknown()
  const credential = await c.client.post<Json>(`/api/v1/credentials/${id}/revoke`)
  if (c.json) return c.print(`${JSON.stringify(credential, null, 2)}\n`)
  c.print(
    `revoked ${cellText(str(credential.kind))} credential ${id}: tokens it backs stop working at once\n` +
      fields([
        ['credential', str(credential.id)],
        ['kind', str(credential.kind)],
        ['scope', str(credential.scope)],
        ['status', str(credential.status)],
        ['agent', str(credential.agentId)],
        ['workspace', str(credential.workspaceId)],
        ['repository', str(credential.repository)],
        ['created', str(credential.createdAt)],
        ['expires', str(credential.expiresAt)],
        ['last used', str(credential.lastUsedAt)],
        ['revoked', str(credential.revokedAt)]
      ])
  )
}

function auditLine(event: Json): string {
  const detail = (event.detail ?? {}) as Json
  const outcome = [detail.outcome, detail.code].filter((v) => typeof v === 'string').join(' ')
  return table(
    ['at', 'action', 'outcome', 'repository', 'identity', 'credential'],
    [[str(event.at), str(event.action), outcome, str(event.repository), str(event.identityId), str(event.credentialId)]]
  )
    .split('\n')[1]!
    .concat('\n')
}

async function auditTail(c: Context): Promise<void> {
  noMoreArgs(c.args, 0)
  const agent = c.options.string('agent')
  if (agent !== undefined && !UUID.test(agent)) throw usageError(`--agent must be a UUID, got "${agent.slice(0, 80)}"`)
  const limit = c.options.number('limit', 20, 1, 500)
  const follow = c.options.flag('follow')
  const intervalMs = c.options.number('interval', 2, 0.1, 3600) * 1000
  // Following is bounded: it ends after --for seconds (default 10 minutes), or on Ctrl-C.
  const forMs = c.options.number('for', 600, 0, 86_400) * 1000
  c.options.rejectUnknown()
  const path = agent ? `/api/v1/agents/${agent}/audit` : '/api/v1/audit'
  const sleep = c.deps.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)))

  // The server answers newest first; print oldest first, each event once.
  const seen = new Set<string>()
  const printNew = (items: Json[], max: number): void => {
    const fresh = items
      .filter((e) => !seen.has(String(e.id)))
      .slice(0, max)
      .reverse()
    for (const event of fresh) {
      seen.add(String(event.id))
      c.print(c.json ? `${JSON.stringify(event)}\n` : auditLine(event))
    }
    // Remember what the server can still return, nothing older (bounded memory).
    if (seen.size > 2000) {
      const keep = new Set(items.map((e) => String(e.id)))
      for (const id of seen) if (!keep.has(id)) seen.delete(id)
    }
  }

  const first = await c.client.get<{ items: Json[] }>(path)
  if (!c.json) c.print(table(['at', 'action', 'outcome', 'repository', 'identity', 'credential'], []))
  printNew(first.items, limit)
  if (!follow) return
  const deadline = Date.now() + forMs
  while (Date.now() < deadline) {
    await sleep(Math.min(intervalMs, Math.max(0, deadline - Date.now())))
    const next = await c.client.get<{ items: Json[] }>(path)
    printNew(next.items, next.items.length)
  }
}

async function tokenIntrospect(c: Context): Promise<void> {
  c.options.rejectUnknown()
  if (c.args.length > 0) {
    // A token on the command line ends up in shell history and `ps`: refuse it.
    throw usageError('pass the token on standard input, not as an argument: echo "$TOKEN" | federate-admin token introspect')
  }
  const token = (await c.deps.readStdin()).trim()
  if (!token) throw usageError('no token on standard input: echo "$TOKEN" | federate-admin token introspect')
  const answer = await c.client.post<Json>('/api/v1/oauth/introspect', { token })
  if (c.json) return c.print(`${JSON.stringify(answer, null, 2)}\n`)
  const time = (v: unknown): Cell => (typeof v === 'number' ? new Date(v * 1000).toISOString() : undefined)
  c.print(
    answer.active
      ? fields([
          ['active', true],
          ['subject', str(answer.sub)],
          ['scope', str(answer.scope)],
          ['agent', str(answer.agent_id)],
          ['repository', str(answer.repository)],
          ['credential', str(answer.jti)],
          ['issued', time(answer.iat)],
          ['expires', time(answer.exp)]
        ])
      : 'active: false (unknown, expired, revoked, or its agent is disabled)\n'
  )
}

function keyRows(items: Json[]): string {
  return table(
    ['kid', 'alg', 'signing', 'signs from', 'retires'],
    items.map((k) => [str(k.kid), str(k.alg), k.signing ? 'yes' : 'no', str(k.signsFrom), str(k.retiresAt)])
  )
}

async function keysList(c: Context): Promise<void> {
  noMoreArgs(c.args, 0)
  c.options.rejectUnknown()
  const { items } = await c.client.get<{ items: Json[] }>('/api/v1/signing-keys')
  c.print(c.json ? `${JSON.stringify(items, null, 2)}\n` : keyRows(items))
}

async function keysRotate(c: Context): Promise<void> {
  noMoreArgs(c.args, 0)
  const emergency = c.options.flag('emergency')
  c.options.rejectUnknown()
  if (emergency) return keysRotateEmergency(c)
  const key = await c.client.post<Json>('/api/v1/signing-keys/rotate')
  c.print(
    c.json
      ? `${JSON.stringify(key, null, 2)}\n`
      : `new signing key ${cellText(str(key.kid))}: in the JWKS now, signs new tokens from ${cellText(str(key.signsFrom))}; the previous keys stay in the JWKS until their tokens expire\n`
  )
}

/**
 * After a suspected key compromise: the new key signs at once and the old keys leave the
 * JWKS, so every token they signed stops working. No confirmation is asked (the flag is the
 * decision, and scripts run it unattended); what happened is printed.
 */
async function keysRotateEmergency(c: Context): Promise<void> {
  const key = await c.client.post<Json>('/api/v1/signing-keys/rotate', { emergency: true })
  // A server that predates emergency rotation ignores the body and rotates gently: never
  // claim that the old tokens are dead when they are not.
  if (key.signing !== true) {
    throw new CliError(
      EXIT.refused,
      `the server did a plain rotation, not an emergency one (it may predate --emergency): new key ${cellText(str(key.kid))} ` +
        `signs from ${cellText(str(key.signsFrom))} and the previous keys stay in the JWKS until their tokens expire; upgrade the server`
    )
  }
  if (c.json) return c.print(`${JSON.stringify(key, null, 2)}\n`)
  c.print(
    `emergency rotation: new signing key ${cellText(str(key.kid))} signs every new token now; the previous keys left the JWKS ` +
      'and every token they signed no longer works (on other instances within 10 s); agents and workflows exchange their OIDC tokens again\n'
  )
}

function workspaceRows(items: Json[]): string {
  return table(
    ['namespace', 'identity', 'status', 'statements', 'rows read', 'rows written', 'bytes', 'created', 'last used'],
    items.map((w) => {
      const usage = (w.usage ?? {}) as Json
      return [
        str(w.namespace),
        str(w.identity),
        w.disabled ? 'disabled' : 'active',
        str(usage.statements),
        str(usage.rowsRead),
        str(usage.rowsWritten),
        str(usage.bytes),
        str(w.createdAt),
        str(w.lastUsedAt)
      ]
    })
  )
}

function workspaceFields(w: Json): string {
  const usage = (w.usage ?? {}) as Json
  const limits = (w.limits ?? {}) as Json
  return fields([
    ['namespace', str(w.namespace)],
    ['database', str(w.database)],
    ['identity', str(w.identity)],
    ['issuer', str(w.issuer)],
    ['status', w.disabled ? 'disabled' : 'active'],
    ['disabled', str(w.disabledAt)],
    ['created', str(w.createdAt)],
    ['last used', str(w.lastUsedAt)],
    ['statements', str(usage.statements)],
    ['rows read', str(usage.rowsRead)],
    ['rows written', str(usage.rowsWritten)],
    ['bytes', str(usage.bytes)],
    ['max bytes', str(limits.maxBytes)],
    ['max rows', str(limits.maxRows)],
    ['max result bytes', str(limits.maxResultBytes)],
    ['statement timeout ms', str(limits.statementTimeoutMs)]
  ])
}

async function workspacesList(c: Context): Promise<void> {
  noMoreArgs(c.args, 0)
  const limit = c.options.string('limit')
  if (limit !== undefined && !(/^\d{1,4}$/.test(limit) && Number(limit) >= 1 && Number(limit) <= 1000))
    throw usageError(`--limit must be a whole number from 1 to 1000, got "${limit.slice(0, 80)}"`)
  c.options.rejectUnknown()
  const { items } = await c.client.get<{ items: Json[] }>(`/api/v1/workspaces${limit === undefined ? '' : `?limit=${limit}`}`)
  c.print(c.json ? `${JSON.stringify(items, null, 2)}\n` : items.length ? workspaceRows(items) : 'no workspaces\n')
}

async function workspacesShow(c: Context): Promise<void> {
  const namespace = namespaceArg(c.args, 0)
  noMoreArgs(c.args, 1)
  c.options.rejectUnknown()
  const workspace = await c.client.get<Json>(`/api/v1/workspaces/${namespace}`)
  c.print(c.json ? `${JSON.stringify(workspace, null, 2)}\n` : workspaceFields(workspace))
}

async function workspacesSetDisabled(c: Context, disabled: boolean): Promise<void> {
  const namespace = namespaceArg(c.args, 0)
  noMoreArgs(c.args, 1)
  c.options.rejectUnknown()
  const workspace = await c.client.post<Json>(`/api/v1/workspaces/${namespace}/${disabled ? 'disable' : 'enable'}`)
  if (c.json) return c.print(`${JSON.stringify(workspace, null, 2)}\n`)
  const owner = cellText(str(workspace.identity))
  c.print(
    disabled
      ? `disabled workspace ${namespace} (${owner}): its tokens and federate answer 403 workspace_disabled; its data is kept\n`
      : `enabled workspace ${namespace} (${owner}): its tokens and federate work again\n`
  )
}

function clientRows(items: Json[]): string {
  return table(
    ['client id', 'name', 'created'],
    items.map((k) => [str(k.client_id), str(k.name), str(k.createdAt)])
  )
}

async function clientsCreate(c: Context): Promise<void> {
  const name = c.args[0]
  if (name === undefined || name.trim() === '') throw usageError('missing NAME: clients create NAME (who the client is, e.g. "billing api")')
  noMoreArgs(c.args, 1)
  c.options.rejectUnknown()
  const client = await c.client.post<Json>('/api/v1/clients', { name })
  if (c.json) return c.print(`${JSON.stringify(client, null, 2)}\n`)
  c.print(
    fields([
      ['client id', str(client.client_id)],
      ['name', str(client.name)],
      ['created', str(client.createdAt)],
      ['client secret', str(client.client_secret)]
    ]) + 'the client secret is shown this once (the server keeps only a hash): store it now; the client sends client_id:client_secret as HTTP Basic to introspection\n'
  )
}

async function clientsList(c: Context): Promise<void> {
  noMoreArgs(c.args, 0)
  c.options.rejectUnknown()
  const { items } = await c.client.get<{ items: Json[] }>('/api/v1/clients')
  c.print(c.json ? `${JSON.stringify(items, null, 2)}\n` : items.length ? clientRows(items) : 'no introspection clients\n')
}

async function clientsDelete(c: Context): Promise<void> {
  const id = uuidArg(c.args, 0, 'CLIENT_ID')
  noMoreArgs(c.args, 1)
  c.options.rejectUnknown()
  await c.client.delete(`/api/v1/clients/${id}`)
  c.print(c.json ? `${JSON.stringify({ deleted: id })}\n` : `deleted introspection client ${id}: its credentials no longer work\n`)
}

const COMMANDS: Record<string, (c: Context) => Promise<void>> = {
  'policy create': policyCreate,
  'policy list': policyList,
  'policy delete': policyDelete,
  'agent show': agentShow,
  'agent disable': agentDisable,
  'agent rotate': agentRotate,
  'agent update': agentUpdate,
  'agents show': agentShow,
  'agents disable': agentDisable,
  'agents rotate': agentRotate,
  'agents update': agentUpdate,
  'credential revoke': credentialRevoke,
  'credentials revoke': credentialsRevoke,
  'audit tail': auditTail,
  'token introspect': tokenIntrospect,
  'keys list': keysList,
  'keys rotate': keysRotate,
  'workspaces list': workspacesList,
  'workspaces show': workspacesShow,
  'workspaces disable': (c) => workspacesSetDisabled(c, true),
  'workspaces enable': (c) => workspacesSetDisabled(c, false),
  'clients create': clientsCreate,
  'clients list': clientsList,
  'clients delete': clientsDelete
}

/** 127.0.0.0/8, localhost, [::1] (and ::ffff:127.x.y.z): the WHATWG URL parser has normalised the spelling. */
function isLoopback(hostname: string): boolean {
  return hostname === 'localhost' || hostname === '[::1]' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(hostname) || /^\[::ffff:7f[0-9a-f]{2}:[0-9a-f]{1,4}\]$/.test(hostname)
}

/**
 * The server's base URL. Plain http to another machine would send the admin token in clear:
 * refused (before any request) unless `insecure`, and then with a warning.
 */
function serverUrl(env: CliDeps['env'], insecure: boolean, warn: (message: string) => void): string {
  const raw = env.FEDERATE_URL?.trim()
  if (!raw) throw usageError('set FEDERATE_URL to the server, e.g. FEDERATE_URL=https://idp.example.com')
  let url: URL
  try {
    url = new URL(raw)
  } catch {
    throw usageError(`FEDERATE_URL "${raw.slice(0, 200)}" is not a URL; use e.g. https://idp.example.com`)
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw usageError('FEDERATE_URL must be an http(s) URL')
  if (url.username || url.password) throw usageError('FEDERATE_URL must not carry credentials; use FEDERATE_ADMIN_TOKEN')
  const base = `${url.origin}${url.pathname.replace(/\/+$/, '')}`
  if (url.protocol === 'http:' && !isLoopback(url.hostname)) {
    if (!insecure) {
      throw usageError(
        `FEDERATE_URL ${base} is plain http to another machine: the admin token would cross the network in clear; ` +
          `use https://${url.host}${url.pathname.replace(/\/+$/, '')}, or add --insecure if you accept that knowingly`
      )
    }
    warn(`warning: --insecure: the admin token goes to ${base} in clear`)
  }
  return base
}

/** Runs one command; returns the process exit code. */
export async function run(argv: string[], deps: CliDeps): Promise<ExitCode> {
  const adminToken = deps.env.FEDERATE_ADMIN_TOKEN ?? ''
  // Every write goes through here. Whatever happens, the admin token never reaches the
  // terminal, nor does any control character (terminal.ts); a message is one line.
  const scrub = (text: string): string => (adminToken.length >= 4 ? text.split(adminToken).join('[admin token]') : text)
  const print = (text: string): void => deps.stdout(terminalSafe(scrub(text)))
  const printError = (text: string): void => deps.stderr(terminalSafe(scrub(text)))
  const message = (text: string): void => deps.stderr(`${terminalSafe(scrub(`federate-admin: ${text}`), { oneLine: true })}\n`)
  try {
    const parsed = parseArgs(argv, BOOLEAN_OPTIONS)
    const [group, action, ...args] = parsed.positionals
    if (parsed.options.has('help') || group === 'help') {
      print(USAGE)
      return EXIT.ok
    }
    if (group === undefined) {
      printError(USAGE)
      return EXIT.usage
    }
    const command = COMMANDS[`${group} ${action ?? ''}`]
    if (!command) throw usageError(`unknown command "${[group, action].filter(Boolean).join(' ')}"; see federate-admin --help`)
    const options = new Options(parsed)
    const json = options.flag('json')
    const insecure = options.flag('insecure')
    options.flag('help')
    const baseUrl = serverUrl(deps.env, insecure, message)
    if (!adminToken.trim()) throw usageError("set FEDERATE_ADMIN_TOKEN to the server's ADMIN_TOKEN")
    const client = new AdminClient({ baseUrl, adminToken: adminToken.trim(), fetch: deps.fetch })
    await command({ client, options, args, json, deps, print })
    return EXIT.ok
  } catch (error) {
    if (error instanceof CliError) {
      message(error.message)
      return error.exitCode
    }
    message(`unexpected error: ${error instanceof Error ? error.message : String(error)}`)
    return EXIT.unreachable
  }
}
