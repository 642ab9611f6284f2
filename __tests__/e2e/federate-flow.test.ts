/**
 * Self sign-up through the bundle: federate twice (created, then the same workspace again),
 * both from the repository root action and from ./federate, then the workspace URL used with
 * the token the action handed out.
 */
import { describe, expect, it } from '@jest/globals'
import { call } from '../../shared/testing/api-call'
import { expectSucceeded, newIdentity, summaryText, useE2eWorld } from './world'

describe('e2e: federate through the bundle', () => {
  const world = useE2eWorld()

  it('creates a workspace on the first run and returns the same one afterwards; the token opens it', async () => {
    const identity = newIdentity()
    const job = await world.job(identity)

    const first = await job.run({ uses: '.', id: 'first', with: { 'api-url': world.apiUrl } })
    expectSucceeded(first)
    expect(first.outputs).toMatchObject({ created: 'true', database: 'main', identity: identity.repository })
    const namespace = first.outputs.namespace ?? ''
    expect(namespace).not.toBe('')
    expect(first.outputs.url).toBe(`${world.apiUrl}/v1/db/${namespace}/main`)
    expect(Date.parse(first.outputs['expires-at'] ?? '')).toBeGreaterThan(Date.now())
    expect(job.job.masker.has(first.outputs.token ?? '')).toBe(true)
    expect(summaryText(first)).toContain(identity.repository)

    const second = await job.run({ uses: './federate', id: 'second', with: { 'api-url': world.apiUrl } })
    expectSucceeded(second)
    expect(second.outputs.created).toBe('false')
    expect(second.outputs.namespace).toBe(namespace)
    expect(second.outputs.url).toBe(first.outputs.url)
    expect(second.outputs.token).not.toBe(first.outputs.token)

    const opened = await call(second.outputs.url ?? '', 'GET', '', { token: second.outputs.token ?? '' })
    expect({ status: opened.status, body: opened.body }).toMatchObject({
      status: 200,
      body: { success: true, data: { namespace, database: 'main', identity: identity.repository } }
    })

    // The token opens the workspace's own database: a later step writes, and reads back.
    const sql = (token: string, statement: string) => call(second.outputs.url ?? '', 'POST', '/query', { token, body: { sql: statement } })
    expect((await sql(second.outputs.token ?? '', 'CREATE TABLE steps (name text)')).status).toBe(200)
    expect((await sql(second.outputs.token ?? '', "INSERT INTO steps VALUES ('deploy')")).body.data.rowsWritten).toBe(1)
    expect((await sql(first.outputs.token ?? '', 'SELECT name FROM steps')).body.data.rows).toEqual([['deploy']])

    // Another repository's workspace token does not open this one.
    const other = await world.job(newIdentity())
    const stranger = await other.run({ uses: './federate', with: { 'api-url': world.apiUrl } })
    expect(stranger.outputs.namespace).not.toBe(namespace)
    expect((await call(second.outputs.url ?? '', 'GET', '', { token: stranger.outputs.token ?? '' })).status).toBe(403)
    expect((await sql(stranger.outputs.token ?? '', 'SELECT name FROM steps')).status).toBe(403)
  })
})
