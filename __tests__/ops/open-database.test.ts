/**
 * openDatabase's start-up shortcut (one read of schema_migrations instead of migrate()'s
 * locked transaction when every migration is recorded) never skips a migration that is due.
 */
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { MIGRATIONS } from '../../shared/server/store/migrations'
import { openDatabase } from '../../shared/server/store/open'

jest.setTimeout(120_000)

// Released migrations never change, so this one can be undone by hand below.
const INDEX_MIGRATION = MIGRATIONS.find((m) => m.version === 3)!

async function versions(dataDir: string): Promise<number[]> {
  const db = await openDatabase({ dataDir })
  try {
    const { rows } = await db.query<{ version: number }>('SELECT version FROM schema_migrations ORDER BY version')
    return rows.map((row) => Number(row.version))
  } finally {
    await db.close()
  }
}

describe('openDatabase on an existing embedded data dir', () => {
  let dataDir: string
  beforeAll(() => {
    dataDir = mkdtempSync(join(tmpdir(), 'federate-open-'))
  })
  afterAll(() => rmSync(dataDir, { recursive: true, force: true }))

  it('creates the schema on a new data dir and leaves a current one as it is', async () => {
    const all = MIGRATIONS.map((m) => m.version)
    expect(await versions(dataDir)).toEqual(all)
    expect(await versions(dataDir)).toEqual(all)
  })

  it('applies a migration that is not recorded (the shortcut does not skip it)', async () => {
    // Undo migration 3 by hand, as if the data dir came from the release before it.
    const db = await openDatabase({ dataDir })
    expect(INDEX_MIGRATION.sql).toContain('CREATE INDEX trust_policies_repository_id')
    await db.query('DELETE FROM schema_migrations WHERE version = $1', [INDEX_MIGRATION.version])
    await db.query('DROP INDEX trust_policies_repository_id')
    await db.close()

    expect(await versions(dataDir)).toEqual(MIGRATIONS.map((m) => m.version))
    const again = await openDatabase({ dataDir })
    try {
      const { rows } = await again.query<{ present: boolean }>("SELECT to_regclass('trust_policies_repository_id') IS NOT NULL AS present")
      expect(rows[0]!.present).toBe(true)
    } finally {
      await again.close()
    }
  })
})
