/**
 * Finds the Node binaries that action bundles run on: Node 24 (what GitHub runs `using: node24`
 * actions on) and Node 20 (this machine's runtime, kept working). Resolved once per process.
 */
import { execFile } from 'node:child_process'
import { promisify } from 'node:util'

const run = promisify(execFile)

/** The runtimes an action.yml may name in `runs.using` that we can run. */
export type NodeRuntime = 'node20' | 'node24'

const cache = new Map<NodeRuntime, Promise<string>>()

/**
 * Absolute path of a Node 24 binary. `NODE24_BIN` overrides; otherwise npm fetches `node@24`
 * once (`npx -y -p node@24`), which `.ci/run` warms up front.
 */
export function node24Path(): Promise<string> {
  return nodePath('node24')
}

/** Absolute path of the binary for `runs.using` (node20 or node24). */
export function nodePath(runtime: NodeRuntime): Promise<string> {
  let found = cache.get(runtime)
  if (!found) {
    found = resolve(runtime)
    // A failed lookup is not cached: the next caller gets a fresh try and the same clear error.
    found.catch(() => cache.delete(runtime))
    cache.set(runtime, found)
  }
  return found
}

async function resolve(runtime: NodeRuntime): Promise<string> {
  const major = runtime === 'node24' ? 24 : 20
  const override = process.env[`NODE${major}_BIN`]
  if (override) return checkVersion(override, major, `NODE${major}_BIN`)
  if (Number(process.versions.node.split('.')[0]) === major) return process.execPath
  try {
    const { stdout } = await run('npx', ['-y', '-p', `node@${major}`, 'node', '-p', 'process.execPath'], {
      timeout: 180_000,
      env: { ...process.env, npm_config_update_notifier: 'false' }
    })
    const path = stdout.trim().split('\n').pop() ?? ''
    return await checkVersion(path, major, `npx -p node@${major}`)
  } catch (error) {
    throw new Error(
      `Node ${major} is needed to run the action bundles the way GitHub does (runs.using: node${major}), ` +
        `but \`npx -y -p node@${major} node\` failed: ${(error as Error).message.split('\n')[0]}. ` +
        `Fix: allow npm to fetch node@${major} once (needs the npm registry), or set NODE${major}_BIN ` +
        `to the path of a Node ${major} binary.`,
      { cause: error }
    )
  }
}

async function checkVersion(path: string, major: number, source: string): Promise<string> {
  let version: string
  try {
    version = (await run(path, ['-p', 'process.versions.node'], { timeout: 30_000 })).stdout.trim()
  } catch (error) {
    throw new Error(`${source} points at "${path}", which does not run: ${(error as Error).message}`, { cause: error })
  }
  if (Number(version.split('.')[0]) !== major) {
    throw new Error(`${source} points at "${path}", which is Node ${version}, not Node ${major}.`)
  }
  return path
}
