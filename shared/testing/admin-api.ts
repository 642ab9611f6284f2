/**
 * The reference server's admin API as an operator (or a test, or the demo) calls it:
 * trust policies, introspection, an agent's credentials and audit trail.
 */

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

/** Thrown for an unexpected status; carries the status and error code, never the admin token. */
export class AdminApiError extends Error {
  constructor(
    message: string,
    readonly status: number,
    readonly body: unknown
  ) {
    super(message)
    this.name = 'AdminApiError'
  }
}

export class AdminApi {
  constructor(
    readonly baseUrl: string,
    private readonly adminToken: string
  ) {}

  createTrustPolicy(policy: TrustPolicyRequest): Promise<TrustPolicy> {
    return this.call('POST', '/api/v1/oidc/trust-policies', { provider: 'github', ...policy }, 201)
  }

  async listTrustPolicies(): Promise<TrustPolicy[]> {
    return (await this.call<{ items: TrustPolicy[] }>('GET', '/api/v1/oidc/trust-policies', undefined, 200)).items
  }

  async deleteTrustPolicy(id: string): Promise<void> {
    await this.call('DELETE', `/api/v1/oidc/trust-policies/${encodeURIComponent(id)}`, undefined, 204)
  }

  introspect(token: string): Promise<Introspection> {
    return this.call('POST', '/api/v1/oauth/introspect', { token }, 200)
  }

  agent(id: string): Promise<Record<string, unknown>> {
    return this.call('GET', `/api/v1/agents/${encodeURIComponent(id)}`, undefined, 200)
  }

  async credentials(agentId: string): Promise<Array<Record<string, unknown>>> {
    return (await this.call<{ items: Array<Record<string, unknown>> }>('GET', `/api/v1/agents/${encodeURIComponent(agentId)}/credentials`, undefined, 200)).items
  }

  async audit(agentId: string): Promise<Array<Record<string, unknown>>> {
    return (await this.call<{ items: Array<Record<string, unknown>> }>('GET', `/api/v1/agents/${encodeURIComponent(agentId)}/audit`, undefined, 200)).items
  }

  private async call<T>(method: string, path: string, body: unknown, expected: number): Promise<T> {
    const response = await fetch(new URL(path, this.baseUrl), {
      method,
      headers: {
        authorization: `Bearer ${this.adminToken}`,
        ...(body === undefined ? {} : { 'content-type': 'application/json' })
      },
      body: body === undefined ? undefined : JSON.stringify(body)
    })
    const text = await response.text()
    let parsed: unknown = text
    try {
      parsed = text === '' ? undefined : JSON.parse(text)
    } catch {
      // keep the text: the error below shows what came back
    }
    if (response.status !== expected) {
      throw new AdminApiError(`${method} ${path}: expected ${expected}, got ${response.status} ${text.slice(0, 300)}`, response.status, parsed)
    }
    return parsed as T
  }
}
