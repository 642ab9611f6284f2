/**
 * In-process cache of what an exchange reads: the agent by id and the trust policies that
 * concern a repository. Only for the embedded database, where this process is the only one
 * that can write (PGlite holds the data dir); with PostgreSQL other instances write too,
 * so there is no cache there.
 *
 * Exact, not eventually consistent: every write to agents or trust_policies clears it,
 * and a read stores its result only if no such write happened while it ran. A disabled
 * agent or a deleted policy therefore takes effect for the very next exchange.
 */
import type { Agent } from './agents'
import type { StoredPolicy } from './policies'

export interface ExchangeInputs {
  agent: Agent | undefined
  policies: StoredPolicy[]
}

/** Bounded so that memory does not grow with the number of repositories or agents seen. */
const DEFAULT_MAX_ENTRIES = 10_000

// The exact name, not a lowercased one: which policies match is the database's lower() to
// decide, and a JavaScript lowercasing that differed from it must not merge two entries.
const policiesKey = (issuer: string, repository: string, repositoryId: string): string => `${issuer}\n${repositoryId}\n${repository}`

export class ExchangeInputsCache {
  private generation = 0
  private readonly agents = new Map<string, Agent | null>()
  private readonly policies = new Map<string, StoredPolicy[]>()

  constructor(private readonly maxEntries = DEFAULT_MAX_ENTRIES) {}

  /** After any write that can change an agent or a policy, and again when its transaction ends. */
  invalidate(): void {
    this.generation++
    this.agents.clear()
    this.policies.clear()
  }

  /**
   * The cached inputs, or `load()`'s. The agent's lastUsedAt may be behind (it is recorded
   * to the minute by the credential writes, which do not clear the cache); the exchange
   * decides on id and status only.
   */
  async read(agentId: string | undefined, issuer: string, repository: string, repositoryId: string, load: () => Promise<ExchangeInputs>): Promise<ExchangeInputs> {
    const key = policiesKey(issuer, repository, repositoryId)
    const policies = this.policies.get(key)
    const agent = agentId === undefined ? undefined : this.agents.get(agentId)
    if (policies && (agentId === undefined || agent !== undefined)) return { agent: agent ?? undefined, policies }

    const generation = this.generation
    const loaded = await load()
    if (generation === this.generation) {
      remember(this.policies, key, deepFreeze(loaded.policies), this.maxEntries)
      if (agentId !== undefined) remember(this.agents, agentId, loaded.agent ? deepFreeze(loaded.agent) : null, this.maxEntries)
    }
    return loaded
  }
}

function remember<V>(map: Map<string, V>, key: string, value: V, maxEntries: number): void {
  map.delete(key)
  if (map.size >= maxEntries) map.delete(map.keys().next().value!) // the oldest entry
  map.set(key, value)
}

/** Cached objects are shared between requests: none may change them. */
function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value)
    for (const child of Object.values(value)) deepFreeze(child)
  }
  return value
}
