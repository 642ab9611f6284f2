/**
 * A new embedded database is unpacked from the cluster made for the installed PGlite
 * (store/pglite-cluster.ts), not made by PGlite's initdb in the server's process.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals'
import { createWriteStream, existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pipeline } from 'node:stream/promises'
import { createBrotliCompress } from 'node:zlib'
import { create } from 'tar'
import { clusterArchivePath, unpackArchive, unpackCluster, VERSION_MARK } from '../../shared/server/store/pglite-cluster'
import { openPglite, pgliteVersion } from '../../shared/server/store/pglite'
import { openToOthers } from '../../shared/testing/file-modes'

/** The cluster's identifier: initdb draws a new one each time, so equal identifiers mean one source. */
async function systemIdentifier(dataDir: string): Promise<string> {
  const db = await openPglite(dataDir)
  try {
    const { rows } = await db.query<{ id: string }>('SELECT system_identifier::text AS id FROM pg_control_system()')
    return rows[0]!.id
  } finally {
    await db.close()
  }
}

/** A brotli-compressed tar of `names` under `cwd`, as the made cluster is packed. */
async function pack(cwd: string, names: string[], out: string, options: { preservePaths?: boolean } = {}): Promise<string> {
  await pipeline(create({ cwd, portable: true, ...options }, names), createBrotliCompress(), createWriteStream(out))
  return out
}

describe('the made cluster', () => {
  let scratch: string

  beforeAll(() => {
    scratch = mkdtempSync(join(tmpdir(), 'federate-cluster-'))
  })
  afterAll(() => rmSync(scratch, { recursive: true, force: true }))

  it('exists for the installed PGlite (after an upgrade: npx tsx scripts/make-pglite-cluster.ts, and commit the archive)', async () => {
    const version = await pgliteVersion()
    expect({ version, archive: existsSync(clusterArchivePath(version)) }).toEqual({ version, archive: true })
  })

  it('is what a new data dir starts from: owner-only files, PG_VERSION in place, data kept across a reopen', async () => {
    const first = join(scratch, 'first')
    const second = join(scratch, 'second')
    const db = await openPglite(first)
    try {
      await db.query('CREATE TABLE kept (note text)')
      await db.query(`INSERT INTO kept VALUES ('written on a first start')`)
    } finally {
      await db.close()
    }
    expect(readdirSync(first)).toContain('PG_VERSION')
    expect(readdirSync(first)).not.toContain(VERSION_MARK)
    expect(lstatSync(first).mode & 0o777).toBe(0o700)
    expect(openToOthers(first)).toEqual([])

    const again = await openPglite(first)
    try {
      expect((await again.query<{ note: string }>('SELECT note FROM kept')).rows).toEqual([{ note: 'written on a first start' }])
    } finally {
      await again.close()
    }
    // Two new data dirs, one cluster: unpacked, not made by initdb (which draws a new identifier).
    expect(await systemIdentifier(second)).toBe(await systemIdentifier(first))
  })

  it('is unpacked again after an unpacking cut short (no PG_VERSION yet), over what it left', async () => {
    const reference = join(scratch, 'reference')
    const cut = join(scratch, 'cut')
    mkdirSync(join(cut, 'base'), { recursive: true, mode: 0o700 })
    writeFileSync(join(cut, VERSION_MARK), '17\n', { mode: 0o600 })
    writeFileSync(join(cut, 'postgresql.conf'), 'half a file', { mode: 0o600 })
    expect(await systemIdentifier(cut)).toBe(await systemIdentifier(reference))
    expect(readdirSync(cut)).not.toContain(VERSION_MARK)
  })

  it('writes nothing for a PGlite version it was not made for (PGlite runs initdb then)', async () => {
    const dir = join(scratch, 'other-version')
    mkdirSync(dir, { mode: 0o700 })
    expect(await unpackCluster(dir, '0.0.0-not-made')).toBe(false)
    expect(readdirSync(dir)).toEqual([])
  })

  it('keeps every entry of an archive inside the data dir: links skipped, a path out of it refused', async () => {
    const source = join(scratch, 'hostile-source')
    mkdirSync(join(source, 'inside'), { recursive: true })
    writeFileSync(join(source, VERSION_MARK), '17\n')
    writeFileSync(join(source, 'inside', 'file'), 'plain')
    symlinkSync('/etc/passwd', join(source, 'inside', 'link'))
    const linked = await pack(source, [VERSION_MARK, 'inside'], join(scratch, 'linked.tar.br'))
    const target = join(scratch, 'hostile-target')
    mkdirSync(target, { mode: 0o700 })
    await unpackArchive(linked, target)
    expect(readdirSync(join(target, 'inside'))).toEqual(['file'])
    expect(readdirSync(target).sort()).toEqual(['PG_VERSION', 'inside'])

    writeFileSync(join(scratch, 'escaped'), 'outside')
    const escaping = await pack(source, ['../escaped'], join(scratch, 'escaping.tar.br'), { preservePaths: true })
    const other = join(source, 'unpacked-escaping')
    mkdirSync(other, { mode: 0o700 })
    await expect(unpackArchive(escaping, other)).rejects.toThrow(/\.\./)
    expect(readdirSync(other)).toEqual([])
    expect(existsSync(join(source, 'escaped'))).toBe(false)
  })
})
