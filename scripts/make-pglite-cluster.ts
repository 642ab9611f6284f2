/**
 * `npx tsx scripts/make-pglite-cluster.ts`: makes the cluster a new embedded database is
 * unpacked from (shared/server/store/pglite-cluster.ts), for the installed PGlite. Run it after
 * every upgrade of @electric-sql/pglite (a test fails until then) and commit the archive; the
 * archives of other versions are removed.
 *
 * The cluster is PGlite's own initdb, in a temp directory, as a first start made it before:
 * opened once and closed, owner-only modes, PG_VERSION under its unpacking name. Packed
 * without owners or device numbers, brotli at its best (the tar is mostly zero pages).
 */
import { createWriteStream } from 'node:fs'
import { mkdtemp, readdir, rename, rm, stat } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { pipeline } from 'node:stream/promises'
import { constants, createBrotliCompress } from 'node:zlib'
import { PGlite } from '@electric-sql/pglite'
import { create } from 'tar'
import { clusterArchiveName, clusterArchivePath, VERSION_MARK } from '../shared/server/store/pglite-cluster'
import { pgliteVersion, restrictToOwner } from '../shared/server/store/pglite'

const version = await pgliteVersion()
const archive = clusterArchivePath(version)
const work = await mkdtemp(join(tmpdir(), 'pglite-cluster-'))
try {
  const dataDir = join(work, 'data')
  const pg = await PGlite.create(dataDir)
  await pg.close()
  await rm(join(dataDir, 'postmaster.pid'), { force: true })
  await rename(join(dataDir, 'PG_VERSION'), join(dataDir, VERSION_MARK))
  await restrictToOwner(dataDir)
  const temp = `${archive}.${process.pid}.tmp`
  await pipeline(
    create({ cwd: dataDir, portable: true }, await readdir(dataDir)),
    createBrotliCompress({ params: { [constants.BROTLI_PARAM_QUALITY]: 11, [constants.BROTLI_PARAM_LGWIN]: 24 } }),
    createWriteStream(temp, { mode: 0o644 })
  )
  for (const entry of await readdir(dirname(archive))) {
    if (/^pglite-cluster-.*\.tar\.br$/.test(entry) && entry !== clusterArchiveName(version)) await rm(join(dirname(archive), entry))
  }
  await rename(temp, archive)
  process.stdout.write(`wrote ${archive} (${(await stat(archive)).size} bytes) for PGlite ${version}\n`)
} finally {
  await rm(work, { recursive: true, force: true })
}
