/**
 * The server's embedded database in a worker thread of its own (store/pglite-thread.ts starts
 * it): the engine's WebAssembly runs beside the event loop that serves requests, on another
 * core, instead of inside it (bench/ANALYSIS.md, "The exchange by stage").
 * Plain JavaScript: workers are loaded by Node itself, outside ts-jest, tsx and the server bundle.
 *
 * workerData: { dataDir, startParams (beyond PGlite's defaults), wasmModule? }. Messages in: { id, sql, params } or
 * { id, close: true }; each is answered with { id, rows, affectedRows } or { id, error }, in the
 * order received (PGlite runs one statement at a time). A SQL error never ends the worker.
 */
import { parentPort, workerData } from 'node:worker_threads'
import { PGlite } from '@electric-sql/pglite'

const { dataDir, startParams, wasmModule } = workerData

/** What a caller may read of a database error (pg-protocol's DatabaseError fields): structured clone would keep only message. */
const ERROR_FIELDS = ['code', 'severity', 'detail', 'hint', 'position', 'where', 'schema', 'table', 'column', 'dataType', 'constraint', 'routine']

function describe(error) {
  const out = { name: error?.name ?? 'Error', message: error instanceof Error ? error.message : String(error) }
  for (const field of ERROR_FIELDS) if (error?.[field] !== undefined) out[field] = error[field]
  return out
}

let pg
try {
  pg = await PGlite.create(dataDir, { ...(wasmModule ? { pgliteWasmModule: wasmModule } : {}), startParams: [...PGlite.defaultStartParams, ...startParams] })
  parentPort.postMessage({ ready: true })
} catch (error) {
  parentPort.postMessage({ ready: false, error: describe(error) })
  process.exit(1)
}

parentPort.on('message', async ({ id, sql, params, close }) => {
  if (close) {
    await pg.close().catch(() => undefined)
    parentPort.postMessage({ id })
    parentPort.close()
    return
  }
  try {
    const result = await pg.query(sql, params)
    parentPort.postMessage({ id, rows: result.rows, affectedRows: result.affectedRows })
  } catch (error) {
    parentPort.postMessage({ id, error: describe(error) })
  }
})
