/**
 * What the exchange reads, in one round trip: the agent (when an agentId is asked for) and
 * the trust policies that concern the token's repository (PolicyRepository.concerning's
 * rule), as JSON columns of a single row. On the embedded database served from memory
 * until an agent or policy changes (exchange-cache.ts); docs/hot-path.md says why.
 */
import { toAgent, type AgentColumns } from './agents'
import { fromJson } from './columns'
import type { Queryable } from './db'
import type { ExchangeInputs, ExchangeInputsCache } from './exchange-cache'
import { toPolicy, type PolicyColumns } from './policies'

export class ExchangeInputsReader {
  constructor(
    private readonly db: Queryable,
    private readonly cache?: ExchangeInputsCache
  ) {}

  read(agentId: string | undefined, issuer: string, repository: string, repositoryId: string): Promise<ExchangeInputs> {
    const load = async (): Promise<ExchangeInputs> => {
      const { rows } = await this.db.query<{ agent: unknown; policies: unknown }>(
        `SELECT (SELECT to_jsonb(a) FROM agents a WHERE a.id = $3) AS agent,
           (SELECT COALESCE(jsonb_agg(to_jsonb(p) ORDER BY p.created_at, p.id), '[]'::jsonb) FROM trust_policies p
            WHERE p.issuer = $4 AND (lower(p.repository) = lower($1) OR p.repository_id = $2)) AS policies`,
        [repository, repositoryId, agentId ?? null, issuer]
      )
      const agent = fromJson<AgentColumns | null>(rows[0]!.agent)
      return { agent: agent ? toAgent(agent) : undefined, policies: fromJson<PolicyColumns[]>(rows[0]!.policies).map(toPolicy) }
    }
    return this.cache ? this.cache.read(agentId, issuer, repository, repositoryId, load) : load()
  }
}
