/**
 * A new embedded database starts as a copy of a cluster made ahead of time
 * (scripts/make-pglite-cluster.ts), not by PGlite's own initdb.
 *
 * Why: PGlite creates a cluster with two more WebAssembly instances beside the engine (a second
 * engine and initdb), and the process's memory peaks at several times what the server holds
 * afterwards (bench/ANALYSIS.md, "A first start from a made cluster"). Unpacking files needs no
 * engine at all, so a first start costs what any later start costs.
 *
 * The archive (brotli-compressed tar) is named after the PGlite version that made it: a cluster
 * belongs to one engine version, and for any other version there is no archive and PGlite's
 * initdb runs as before. A test fails when the installed PGlite has no archive.
 */
import { createReadStream } from 'node:fs'
import { access, rename } from 'node:fs/promises'
import { join } from 'node:path'
import { pipeline } from 'node:stream/promises'
import { fileURLToPath } from 'node:url'
import { createBrotliDecompress } from 'node:zlib'
import { extract } from 'tar'

/**
 * The archive holds PG_VERSION under this name, renamed last: PG_VERSION is what marks a
 * directory as holding a cluster (prepareDataDir), so an unpacking cut short is done again
 * at the next start instead of being taken for a cluster.
 */
export const VERSION_MARK = '.PG_VERSION'

export const clusterArchiveName = (pgliteVersion: string): string => `pglite-cluster-${pgliteVersion}.tar.br`

/**
 * Beside this module, in the sources and in the built server alike (scripts/build-server.mjs
 * copies it there).
 */
export const clusterArchivePath = (pgliteVersion: string): string => fileURLToPath(new URL(`./${clusterArchiveName(pgliteVersion)}`, import.meta.url))

/**
 * Unpacks the cluster made for `pgliteVersion` into `dataDir` (which must exist and be the
 * server user's alone). False, with nothing written, when there is no archive for that version.
 */
export async function unpackCluster(dataDir: string, pgliteVersion: string): Promise<boolean> {
  const archive = clusterArchivePath(pgliteVersion)
  try {
    await access(archive)
  } catch {
    return false
  }
  await unpackArchive(archive, dataDir)
  return true
}

/** The archive's plain files and directories into `dataDir`, then PG_VERSION into place. */
export async function unpackArchive(archive: string, dataDir: string): Promise<void> {
  await pipeline(
    createReadStream(archive),
    createBrotliDecompress(),
    // tar keeps every entry inside cwd (no absolute paths, no `..`, nothing through a link).
    extract({
      cwd: dataDir,
      strict: true,
      // A cluster has nothing but plain files and directories: links and devices are skipped.
      filter: (_path, entry) => 'type' in entry && (entry.type === 'File' || entry.type === 'Directory'),
      preserveOwner: false
    })
  )
  await rename(join(dataDir, VERSION_MARK), join(dataDir, 'PG_VERSION'))
}
