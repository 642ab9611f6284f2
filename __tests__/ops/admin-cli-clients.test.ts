/**
 * federate-admin clients create | list | delete against a real server: the secret is printed
 * once and works as HTTP Basic on introspection; list never shows it; delete ends it.
 */
import { beforeAll, describe, expect, it } from '@jest/globals'
import { run } from '../../shared/admin-cli/cli'
import { ADMIN_TOKEN, givenBootstrapPolicy, useTestServer } from '../server/helpers'

const { server, client: c } = useTestServer()
beforeAll(async () => {
  await givenBootstrapPolicy(server)
})

async function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = ''
  let stderr = ''
  const code = await run(args, {
    env: { FEDERATE_URL: server.url, FEDERATE_ADMIN_TOKEN: ADMIN_TOKEN },
    stdout: (text) => (stdout += text),
    stderr: (text) => (stderr += text),
    readStdin: async () => ''
  })
  return { code, stdout, stderr }
}

const basic = (id: string, secret: string): string => `Basic ${Buffer.from(`${id}:${secret}`).toString('base64')}`

describe('federate-admin clients', () => {
  it('creates a client (secret printed once), lists it without the secret, deletes it', async () => {
    const created = await cli(['clients', 'create', 'billing api'])
    expect(created).toMatchObject({ code: 0, stderr: '' })
    const id = /^client id:\s+([0-9a-f-]{36})$/m.exec(created.stdout)?.[1]
    const secret = /^client secret:\s+(fic_[A-Za-z0-9_-]{43})$/m.exec(created.stdout)?.[1]
    expect(id).toBeDefined()
    expect(secret).toBeDefined()
    expect(created.stdout).toMatch(/^name:\s+billing api$/m)
    expect(created.stdout).toMatch(/shown this once/)

    const token = await c.bootstrap()
    const introspected = await c.api('POST', '/api/v1/oauth/introspect', { body: { token }, headers: { authorization: basic(id!, secret!) } })
    expect(introspected.status).toBe(200)

    const table = await cli(['clients', 'list'])
    expect(table.code).toBe(0)
    expect(table.stdout.split('\n')[0]).toMatch(/^CLIENT ID\s+NAME\s+CREATED$/)
    expect(table.stdout).toMatch(new RegExp(`^${id}\\s+billing api\\s+\\d{4}-`, 'm'))
    const listed = await cli(['clients', 'list', '--json'])
    expect(JSON.parse(listed.stdout)).toContainEqual({ client_id: id, name: 'billing api', createdAt: expect.any(String) })
    expect(table.stdout + listed.stdout).not.toContain(secret!)

    expect(await cli(['clients', 'delete', id!])).toMatchObject({ code: 0, stdout: `deleted introspection client ${id}: its credentials no longer work\n` })
    expect((await c.api('POST', '/api/v1/oauth/introspect', { body: { token }, headers: { authorization: basic(id!, secret!) } })).status).toBe(401)
    const again = await cli(['clients', 'delete', id!])
    expect(again.code).toBe(1)
    expect(again.stderr).toBe(`federate-admin: no introspection client ${id} (404 not_found)\n`)
  })

  it('--json prints the created client with its secret, for scripts', async () => {
    const created = await cli(['clients', 'create', 'scripted', '--json'])
    expect(created.code).toBe(0)
    expect(JSON.parse(created.stdout)).toEqual({
      client_id: expect.any(String),
      client_secret: expect.stringMatching(/^fic_/),
      name: 'scripted',
      createdAt: expect.any(String)
    })
  })

  it('usage errors (exit 2): no name, a client id that is not a UUID, extra arguments', async () => {
    expect((await cli(['clients', 'create'])).code).toBe(2)
    expect((await cli(['clients', 'delete', 'nope'])).code).toBe(2)
    expect((await cli(['clients', 'list', 'extra'])).code).toBe(2)
    expect((await cli(['clients', 'create', 'a', 'b'])).code).toBe(2)
  })
})
