/**
 * What "nothing lost, nothing half-created" means in SQL, for either driver: every request
 * that was answered 2xx left its rows, and no row exists without the rows that belong with it.
 * Not a test file (used by the crash tests).
 */

export type Query = (sql: string, params?: unknown[]) => Promise<Array<Record<string, unknown>>>

/** What the servers acknowledged (2xx) during a load. */
export interface Acked {
  /** Federations: the repository and the SHA-256 (hex) of the workspace token handed out. */
  workspaces: Array<{ repositoryId: string; namespace: string; tokenSha256: string }>
  /** Registrations: the agent id handed out. */
  agents: Array<{ agentId: string; name: string }>
  /** Exchanges: the jti of each access token handed out. */
  credentials: string[]
}

export interface Report {
  /** Acknowledged but not in the database (lost writes). */
  missing: string[]
  /** Rows without their companions (half-created). */
  halfCreated: string[]
  counts: Record<string, number>
}

export function emptyAcked(): Acked {
  return { workspaces: [], agents: [], credentials: [] }
}

export async function checkConsistency(query: Query, acked: Acked): Promise<Report> {
  const missing: string[] = []
  for (const w of acked.workspaces) {
    const rows = await query(
      `SELECT w.namespace, c.id AS credential_id,
              EXISTS (SELECT 1 FROM audit_events a WHERE a.credential_id = c.id AND a.action = 'workspace.federate') AS audited
         FROM workspaces w LEFT JOIN credentials c ON c.workspace_id = w.id AND c.token_sha256 = $2
        WHERE w.repository_id = $1`,
      [w.repositoryId, w.tokenSha256]
    )
    const row = rows[0]
    if (!row) missing.push(`workspace of repository ${w.repositoryId}`)
    else if (row.namespace !== w.namespace) missing.push(`workspace ${w.namespace} (found ${String(row.namespace)})`)
    else if (!row.credential_id) missing.push(`workspace token credential of ${w.namespace}`)
    else if (!row.audited) missing.push(`federate audit event of ${w.namespace}`)
  }
  for (const a of acked.agents) {
    const rows = await query(
      `SELECT ag.name, EXISTS (SELECT 1 FROM audit_events e WHERE e.identity_id = ag.id AND e.action = 'agent.register') AS audited
         FROM agents ag WHERE ag.id = $1`,
      [a.agentId]
    )
    if (!rows[0]) missing.push(`agent ${a.agentId} (${a.name})`)
    else if (!rows[0].audited) missing.push(`registration audit event of agent ${a.agentId}`)
  }
  for (const jti of acked.credentials) {
    const rows = await query(
      `SELECT EXISTS (SELECT 1 FROM audit_events e WHERE e.credential_id = c.id AND e.action = 'token.exchange') AS audited
         FROM credentials c WHERE c.id = $1`,
      [jti]
    )
    if (!rows[0]) missing.push(`credential ${jti}`)
    else if (!rows[0].audited) missing.push(`exchange audit event of credential ${jti}`)
  }

  const halfCreated: string[] = []
  const orphans = async (label: string, sql: string): Promise<void> => {
    for (const row of await query(sql)) halfCreated.push(`${label} ${String(row.id)}`)
  }
  await orphans('workspace without a credential:', 'SELECT w.id FROM workspaces w WHERE NOT EXISTS (SELECT 1 FROM credentials c WHERE c.workspace_id = w.id)')
  await orphans(
    'workspace without its federate audit event:',
    "SELECT w.id FROM workspaces w WHERE NOT EXISTS (SELECT 1 FROM audit_events a WHERE a.workspace_id = w.id AND a.action = 'workspace.federate')"
  )
  await orphans('credential without an audit event:', 'SELECT c.id FROM credentials c WHERE NOT EXISTS (SELECT 1 FROM audit_events a WHERE a.credential_id = c.id)')
  await orphans(
    'agent without its registration audit event:',
    "SELECT ag.id FROM agents ag WHERE NOT EXISTS (SELECT 1 FROM audit_events a WHERE a.identity_id = ag.id AND a.action = 'agent.register')"
  )

  const counts: Record<string, number> = {}
  for (const table of ['workspaces', 'agents', 'credentials', 'audit_events']) {
    counts[table] = Number((await query(`SELECT count(*) AS n FROM ${table}`))[0]!.n)
  }
  return { missing, halfCreated, counts }
}
