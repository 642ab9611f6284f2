/**
 * File permission checks for tests of what the server writes (DATA_DIR must be the server
 * user's alone: it holds the private signing keys).
 */
import { lstatSync, readdirSync } from 'node:fs'
import { join } from 'node:path'

/** Every path under `dir` (itself included) whose mode gives group or others any access; links are not followed. */
export function openToOthers(dir: string): string[] {
  const found: string[] = []
  const visit = (path: string): void => {
    const info = lstatSync(path)
    if (info.isSymbolicLink()) return
    if (info.mode & 0o077) found.push(`${(info.mode & 0o777).toString(8)} ${path}`)
    if (info.isDirectory()) for (const name of readdirSync(path)) visit(join(path, name))
  }
  visit(dir)
  return found
}
