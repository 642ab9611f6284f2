/**
 * The reference server's admin API as an operator (or a test, or the demo) calls it:
 * trust policies, introspection, an agent's credentials and audit trail.
 */
import { AdminClient } from '../admin-cli/client'

export interface TrustPolicyRequest {
  provider?: 'github'
  repository: string
  branch?: string
  agentId?: string
  repositoryId?: string
  repositoryOwnerId?: string
  environment?: string
  workflowRef?: string
  events?: string[]
}

export interface TrustPolicy extends TrustPolicyRequest {
  id: string
  createdAt: string
}

export interface Introspection {
  active: boolean
  [claim: string]: unknown
}

/**
 * Typed calls over the admin CLI's own client (shared/admin-cli/client.ts: the admin token sent,
 * never shown; a refusal, an unreachable server or a non-API answer thrown as a CliError that
 * says what went wrong), so the tests, the demo and the benchmarks call the admin API the way
 * `federate-admin` does.
 */
export class AdminApi {
  private readonly client: AdminClient

  constructor(
    readonly baseUrl: string,
    adminToken: string
  ) {
    this.client = new AdminClient({ baseUrl, adminToken })
  }

  createTrustPolicy(policy: TrustPolicyRequest): Promise<TrustPolicy> {
    return this.client.post('/api/v1/oidc/trust-policies', { provider: 'github', ...policy })
  }

  async listTrustPolicies(): Promise<TrustPolicy[]> {
    return (await this.client.get<{ items: TrustPolicy[] }>('/api/v1/oidc/trust-policies')).items
  }

  deleteTrustPolicy(id: string): Promise<void> {
    return this.client.delete(`/api/v1/oidc/trust-policies/${encodeURIComponent(id)}`)
  }

  introspect(token: string): Promise<Introspection> {
    return this.client.post('/api/v1/oauth/introspect', { token })
  }

  agent(id: string): Promise<Record<string, unknown>> {
    return this.client.get(`/api/v1/agents/${encodeURIComponent(id)}`)
  }

  async credentials(agentId: string): Promise<Array<Record<string, unknown>>> {
    return (await this.client.get<{ items: Array<Record<string, unknown>> }>(`/api/v1/agents/${encodeURIComponent(agentId)}/credentials`)).items
  }

  async audit(agentId: string): Promise<Array<Record<string, unknown>>> {
    return (await this.client.get<{ items: Array<Record<string, unknown>> }>(`/api/v1/agents/${encodeURIComponent(agentId)}/audit`)).items
  }
}
