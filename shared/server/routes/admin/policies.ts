/** Trust-policy administration (admin): create, list, delete. */
import type { FastifyPluginAsync } from 'fastify'
import fp from 'fastify-plugin'
import { ApiError, badRequest } from '../../errors'
import { adminOnly, uuidParam } from '../../http'
import { SERVICES } from '../../services'
import { validatePolicyInput } from '../../trust'
import { PolicyBody, type TrustPolicyView } from './schemas'

/**
 * The issuer a new policy is for: optional when one issuer is trusted (that one), required
 * when several are, and always one of OIDC_ISSUERS.
 */
function policyIssuer(given: string | undefined, trusted: string[]): string {
  if (given === undefined || given === null) {
    if (trusted.length === 1) return trusted[0]!
    throw badRequest(`issuer is required when several issuers are trusted; one of: ${trusted.join(', ')}`)
  }
  const issuer = given.replace(/\/$/, '')
  if (!trusted.includes(issuer)) throw badRequest(`issuer ${JSON.stringify(given.slice(0, 200))} is not one of the trusted issuers (OIDC_ISSUERS): ${trusted.join(', ')}`)
  return issuer
}

const plugin: FastifyPluginAsync = async (app) => {
  const admin = adminOnly(app.config.adminToken)

  app.post<{ Body: PolicyBody; Reply: TrustPolicyView }>('/api/v1/oidc/trust-policies', { onRequest: admin, schema: { body: PolicyBody } }, async (request, reply) => {
    const { issuer: givenIssuer, ...fields } = request.body
    const checked = validatePolicyInput(fields)
    if (!checked.ok) throw badRequest(checked.reason)
    const issuer = policyIssuer(givenIssuer, app.config.oidcIssuers)
    if (checked.value.agentId !== undefined) {
      const agent = await app.store.agents.get(checked.value.agentId.toLowerCase())
      if (!agent) throw badRequest(`agentId ${checked.value.agentId} is not a registered agent`)
      if (agent.issuer !== issuer) throw badRequest(`agent ${agent.id} belongs to issuer ${agent.issuer}, not ${issuer}`)
      checked.value.agentId = agent.id
    }
    const policy = await app.store.policies.create({ ...checked.value, issuer })
    await app.store.audit.record({
      action: 'policy.create',
      identityId: policy.agentId ?? null,
      repository: policy.repository,
      repositoryId: policy.repositoryId ?? null,
      detail: { policy }
    })
    return reply.code(201).send(policy)
  })

  app.get('/api/v1/oidc/trust-policies', { onRequest: admin }, async () => {
    return { items: await app.store.policies.list() }
  })

  app.delete<{ Params: { id: string } }>('/api/v1/oidc/trust-policies/:id', { onRequest: admin }, async (request, reply) => {
    const id = uuidParam(request.params.id, 'policy id')
    if (!(await app.store.policies.delete(id))) throw new ApiError(404, 'not_found', `no trust policy ${id}`)
    await app.store.audit.record({ action: 'policy.delete', detail: { policyId: id } })
    return reply.code(204).send()
  })
}

export const policyRoutes = fp(plugin, { name: 'federate-policy-routes', fastify: '5.x', dependencies: [SERVICES] })
