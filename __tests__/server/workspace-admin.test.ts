/**
 * The workspace admin API: list and show workspaces with their usage and limits, disable and
 * enable them (idempotent, audited); a disabled workspace's token and federate answer 403
 * workspace_disabled, and both work again once it is enabled. Only federate needs to succeed
 * here: no SQL runs.
 */
import { describe, expect, it } from '@jest/globals'
import { ADMIN_TOKEN, freshIdentity, useTestServer } from './helpers'

const { client: c } = useTestServer()

interface Federated {
  token: string
  url: string
  namespace: string
  database: string
}

async function federated(identity = freshIdentity('ws-admin')): Promise<Federated & { repository: string }> {
  const answer = await c.federate(identity)
  expect(answer.status).toBe(201)
  return { ...(answer.body.data as Federated), repository: identity.repository }
}

const VIEW_KEYS = ['namespace', 'database', 'identity', 'issuer', 'createdAt', 'lastUsedAt', 'disabled', 'disabledAt', 'usage', 'limits'].sort()

describe('GET /api/v1/workspaces and /api/v1/workspaces/{namespace}', () => {
  it('lists workspaces newest first with usage and limits, never the database internals', async () => {
    const older = await federated()
    const newer = await federated()
    const listed = await c.admin('GET', '/api/v1/workspaces')
    expect(listed.status).toBe(200)
    const namespaces = (listed.body.items as Array<{ namespace: string }>).map((w) => w.namespace)
    expect(namespaces.indexOf(newer.namespace)).toBeGreaterThanOrEqual(0)
    expect(namespaces.indexOf(newer.namespace)).toBeLessThan(namespaces.indexOf(older.namespace))
    const item = (listed.body.items as Array<Record<string, unknown>>).find((w) => w.namespace === newer.namespace)!
    expect(Object.keys(item).sort()).toEqual(VIEW_KEYS)
    expect(item).toMatchObject({ database: 'main', identity: newer.repository, disabled: false, disabledAt: null })
    expect(item.usage).toEqual({ statements: 0, rowsRead: 0, rowsWritten: 0, bytes: expect.any(Number) })
    expect(Object.keys(item.limits as object).sort()).toEqual(['maxBytes', 'maxResultBytes', 'maxRows', 'statementTimeoutMs'])
    // Opaque engine names (w_<hex>) and their passwords stay inside the server.
    expect(listed.text).not.toMatch(/"w_[0-9a-f]+"/)
    expect(listed.text).not.toMatch(/engine/i)

    const limited = await c.admin('GET', '/api/v1/workspaces?limit=1')
    expect(limited.status).toBe(200)
    expect(limited.body.items).toHaveLength(1)

    const shown = await c.admin('GET', `/api/v1/workspaces/${older.namespace}`)
    expect(shown.status).toBe(200)
    expect(shown.body).toMatchObject({ namespace: older.namespace, identity: older.repository, disabled: false })
    expect(Date.parse(shown.body.createdAt as string)).toBeGreaterThan(Date.now() - 120_000)
  })

  it('refuses a bad limit or namespace (400), an unknown namespace (404), and anyone without the admin token (401)', async () => {
    for (const limit of ['0', '1001', 'ten', '-1']) {
      const res = await c.admin('GET', `/api/v1/workspaces?limit=${limit}`)
      expect({ limit, status: res.status, error: res.body.error }).toEqual({ limit, status: 400, error: 'invalid_request' })
    }
    expect((await c.admin('GET', '/api/v1/workspaces/Not_A_Namespace')).body).toMatchObject({ error: 'invalid_request' })
    const unknown = await c.admin('GET', '/api/v1/workspaces/no-such-workspace-0000')
    expect(unknown.status).toBe(404)
    expect(unknown.body).toEqual({ error: 'not_found', error_description: 'no workspace no-such-workspace-0000' })
    expect((await c.admin('POST', '/api/v1/workspaces/no-such-workspace-0000/disable')).status).toBe(404)
    expect((await c.admin('POST', '/api/v1/workspaces/no-such-workspace-0000/enable')).status).toBe(404)

    const { namespace, token } = await federated()
    for (const [method, path] of [
      ['GET', '/api/v1/workspaces'],
      ['GET', `/api/v1/workspaces/${namespace}`],
      ['POST', `/api/v1/workspaces/${namespace}/disable`],
      ['POST', `/api/v1/workspaces/${namespace}/enable`]
    ] as const) {
      for (const bearer of [undefined, 'wrong-admin-token-0123456789', token]) {
        const res = await c.api(method, path, { token: bearer })
        expect({ path, status: res.status, error: res.body.error }).toEqual({ path, status: 401, error: 'invalid_token' })
      }
    }
    // Nothing was disabled by the refused calls.
    expect((await c.admin('GET', `/api/v1/workspaces/${namespace}`)).body.disabled).toBe(false)
  })
})

describe('POST /api/v1/workspaces/{namespace}/disable and /enable', () => {
  it('disable: its token and federate answer 403 workspace_disabled; enable: both work again; each call audited', async () => {
    const identity = freshIdentity('ws-disable')
    const workspace = await federated(identity)
    const path = new URL(workspace.url).pathname
    expect(path).toBe(`/v1/db/${workspace.namespace}/main`)
    expect((await c.api('GET', path, { token: workspace.token })).status).toBe(200)

    const disabled = await c.admin('POST', `/api/v1/workspaces/${workspace.namespace}/disable`)
    expect(disabled.status).toBe(200)
    expect(disabled.body).toMatchObject({ namespace: workspace.namespace, disabled: true })
    const disabledAt = disabled.body.disabledAt as string
    expect(Date.parse(disabledAt)).toBeGreaterThan(Date.now() - 60_000)

    const refused = await c.api('GET', path, { token: workspace.token })
    expect(refused.status).toBe(403)
    expect(refused.body).toMatchObject({ success: false, code: 'workspace_disabled' })
    const refusedFederate = await c.federate(identity)
    expect(refusedFederate.status).toBe(403)
    expect(refusedFederate.body).toMatchObject({ success: false, code: 'workspace_disabled' })

    // Idempotent: disabling again keeps the first disabledAt.
    const again = await c.admin('POST', `/api/v1/workspaces/${workspace.namespace}/disable`)
    expect(again.status).toBe(200)
    expect(again.body).toMatchObject({ disabled: true, disabledAt })
    expect((await c.admin('GET', '/api/v1/workspaces')).body.items).toContainEqual(expect.objectContaining({ namespace: workspace.namespace, disabled: true }))

    const enabled = await c.admin('POST', `/api/v1/workspaces/${workspace.namespace}/enable`)
    expect(enabled.status).toBe(200)
    expect(enabled.body).toMatchObject({ namespace: workspace.namespace, disabled: false, disabledAt: null })
    expect((await c.admin('POST', `/api/v1/workspaces/${workspace.namespace}/enable`)).body).toMatchObject({ disabled: false })

    expect((await c.api('GET', path, { token: workspace.token })).status).toBe(200)
    const back = await c.federate(identity)
    expect(back.status).toBe(200)
    expect(back.body.data).toMatchObject({ namespace: workspace.namespace, created: false })
    expect((await c.api('GET', path, { token: back.body.data.token as string })).status).toBe(200)

    const audit = await c.api('GET', '/api/v1/audit', { token: ADMIN_TOKEN })
    const events = (audit.body.items as Array<{ action: string; repository: string | null; identityId: string | null; detail: Record<string, unknown> }>)
      .filter((e) => e.repository === identity.repository && e.action !== 'workspace.federate')
      .reverse()
    expect(events.map((e) => [e.action, e.detail.outcome])).toEqual([
      ['workspace.disable', 'changed'],
      ['workspace.disable', 'unchanged'],
      ['workspace.enable', 'changed'],
      ['workspace.enable', 'unchanged']
    ])
    for (const event of events) expect(event.detail).toMatchObject({ by: 'admin', namespace: workspace.namespace })
    expect(new Set(events.map((e) => e.identityId)).size).toBe(1)
    // The refused federate is audited as a denial.
    const federations = (audit.body.items as Array<{ action: string; repository: string | null; detail: Record<string, unknown> }>).filter(
      (e) => e.repository === identity.repository && e.action === 'workspace.federate'
    )
    expect(federations.map((e) => e.detail.outcome)).toContain('denied')
    expect(federations.find((e) => e.detail.outcome === 'denied')!.detail.code).toBe('workspace_disabled')
  })
})
