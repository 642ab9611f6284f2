/**
 * The committed copy of the OpenAPI document (docs/openapi.json): built from an in-memory
 * server, so it needs no configuration. `npx tsx shared/server/openapi-file.ts` rewrites
 * it; __tests__/ops/openapi.test.ts fails when it drifts from the routes.
 */
import { writeFile } from 'node:fs/promises'
import { fileURLToPath } from 'node:url'
import { buildServer } from './app'
import { loadConfig } from './config'
import { createContext } from './context'
import { openApiDocument } from './openapi'
import { openDatabase } from './store/open'

export const OPENAPI_FILE = fileURLToPath(new URL('../../docs/openapi.json', import.meta.url))

/** The document as the running server would serve it, pretty-printed with a final newline. */
export async function generateOpenApiText(): Promise<string> {
  const config = loadConfig({ ADMIN_TOKEN: 'openapi-generation-only', OIDC_ISSUERS: 'http://127.0.0.1:9' })
  const db = await openDatabase({})
  try {
    const app = await buildServer(await createContext({ config, db }))
    await app.ready()
    const text = `${JSON.stringify(openApiDocument(app), null, 2)}\n`
    await app.close()
    return text
  } finally {
    await db.close()
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  await writeFile(OPENAPI_FILE, await generateOpenApiText())
  process.stdout.write(`wrote ${OPENAPI_FILE}\n`)
}
