import { describe, expect, it } from '@jest/globals'
import pg from 'pg'
import { startPostgres } from '../../shared/testing/postgres'

describe('throw-away PostgreSQL', () => {
  it('starts a real server on loopback that answers SQL, and removes it on stop', async () => {
    const server = await startPostgres()
    const client = new pg.Client({ connectionString: server.url })
    try {
      await client.connect()
      const { rows } = await client.query<{ version: string }>('select version()')
      expect(rows[0]?.version).toMatch(/^PostgreSQL \d+/)
      expect(server.url).toMatch(/^postgres:\/\/postgres@127\.0\.0\.1:\d+\/postgres$/)
    } finally {
      await client.end()
      await server.stop()
    }
    const refused = new pg.Client({ connectionString: server.url, connectionTimeoutMillis: 2000 })
    await expect(refused.connect()).rejects.toThrow(/ECONNREFUSED/)
  })
})
