/**
 * One workspace's PGlite instance, in a worker thread of its own (pglite-engine.ts starts it).
 * Plain JavaScript: workers are loaded by Node itself, outside ts-jest, tsx and the server bundle.
 *
 * A statement blocks this thread until it ends, so the engine enforces time limits from the main
 * thread by terminating this worker; nothing here needs to be interruptible.
 *
 * workerData: { dataDir, startParams, wasmModule?, asWorkspace } (asWorkspace false only while the
 * template is built: the role does not exist yet). Messages in: { id, op, sql, params, maxRows },
 * op 'statement' (after: a scalar to read once it succeeded) | 'control' |
 * 'controls' (sqls, in order) | 'scalar' | 'close'; any but close may carry before: the server's
 * own SQL to run first, in the same hand-off (an error there answers with phase 'before'). Every message is answered with { id, result }
 * or { id, error: { message, sqlstate, broken } }, both with heap (its WebAssembly memory in bytes); a SQL error never ends the worker.
 */
import { parentPort, workerData } from 'node:worker_threads'
// PGlite ships pg-protocol's serializer and parser: the same code as the pg-protocol package, without a second copy.
import { PGlite, protocol } from '@electric-sql/pglite'

const { serialize } = protocol
const { dataDir, startParams, wasmModule, asWorkspace } = workerData

/** The parts of one round trip as a single buffer (execProtocol takes one). */
function concat(parts) {
  const out = new Uint8Array(parts.reduce((n, part) => n + part.length, 0))
  let offset = 0
  for (const part of parts) {
    out.set(part, offset)
    offset += part.length
  }
  return out
}

/** The session no longer follows the protocol (as after COPY TO PROGRAM as the superuser): the engine throws the instance away. */
class BrokenSession extends Error {}

/** Messages of one round trip; throwOnError false keeps the error among them instead of a throw. */
async function roundTrip(pg, parts) {
  const { messages } = await pg.execProtocol(concat(parts), { throwOnError: false })
  // Every round trip ends with Sync (or is a simple query), so a healthy session always ends it with ReadyForQuery.
  if (messages[messages.length - 1]?.name !== 'readyForQuery') throw new BrokenSession('the session stopped following the protocol')
  const failure = messages.find((m) => m.name === 'error')
  if (failure) throw failure
  return messages
}

/** Extended protocol: one statement only (Parse refuses a second with 42601), at most maxRows + 1 rows read. */
async function statement(pg, { sql, params, maxRows, after }) {
  const result = await runStatement(pg, { sql, params, maxRows })
  return after ? { ...result, after: await scalar(pg, { sql: after }) } : result
}

async function runStatement(pg, { sql, params, maxRows }) {
  const messages = await roundTrip(pg, [
    serialize.parse({ text: sql }),
    serialize.bind({ values: params }),
    serialize.describe({ type: 'P' }),
    serialize.execute({ rows: maxRows + 1 }),
    serialize.sync()
  ])
  let fields = []
  const rows = []
  let tag = ''
  for (const m of messages) {
    if (m.name === 'rowDescription') fields = m.fields.map((f) => ({ name: f.name, typeOid: f.dataTypeID }))
    else if (m.name === 'dataRow') rows.push(m.fields)
    else if (m.name === 'commandComplete') tag = m.text
  }
  // No CommandComplete (PortalSuspended: more rows than asked for) leaves the tag empty; the caller refuses the size anyway.
  const words = tag.trim().split(/\s+/)
  const last = words[words.length - 1] ?? ''
  return { fields, rows, command: (words[0] ?? '').toUpperCase(), rowCount: /^\d+$/.test(last) ? Number(last) : null }
}

/** Simple protocol: the server's own SQL (BEGIN, COMMIT, the template's set-up). */
async function control(pg, { sql }) {
  await roundTrip(pg, [serialize.query(sql)])
  return null
}

/** Several of the server's own statements in order, stopping at the first that fails. */
async function controls(pg, { sqls }) {
  for (const sql of sqls) await control(pg, { sql })
  return null
}

/** The first column of the first row, as text. */
async function scalar(pg, { sql }) {
  const messages = await roundTrip(pg, [serialize.query(sql)])
  const row = messages.find((m) => m.name === 'dataRow')
  return row ? (row.fields[0] ?? null) : null
}

/** The server's own SQL a message asks to run first (the session reset, a transaction's BEGIN): a failure there is marked as such. */
async function runBefore(pg, before = []) {
  try {
    await controls(pg, { sqls: before })
  } catch (error) {
    if (error instanceof BrokenSession) throw error
    throw Object.assign(new Error(String(error?.message ?? error)), { code: error?.code, phase: 'before' })
  }
}

function errorOf(error) {
  return {
    message: String(error?.message ?? error),
    sqlstate: typeof error?.code === 'string' ? error.code : undefined,
    broken: error instanceof BrokenSession,
    ...(error?.phase ? { phase: error.phase } : {})
  }
}

let pg
try {
  pg = await PGlite.create(dataDir, { startParams, ...(wasmModule ? { pgliteWasmModule: wasmModule } : {}) })
  // From here on the session is the workspace's role; only SET SESSION AUTHORIZATION can undo it, which the engine checks for.
  if (asWorkspace) await control(pg, { sql: 'SET SESSION AUTHORIZATION workspace' })
  parentPort.postMessage({ ready: true })
} catch (error) {
  parentPort.postMessage({ ready: false, error: errorOf(error) })
  process.exit(1)
}

const ops = { statement, control, controls, scalar }
// The engine sends one message at a time; the chain keeps the order even if it did not.
let queue = Promise.resolve()
parentPort.on('message', (message) => {
  queue = queue.then(async () => {
    if (message.op === 'close') {
      await pg.close().catch(() => undefined)
      parentPort.postMessage({ id: message.id, result: null })
      process.exit(0)
    }
    // WebAssembly memory only grows: the engine closes an instance that a large query left big.
    const heap = () => pg.Module?.HEAPU8?.byteLength
    try {
      await runBefore(pg, message.before)
      parentPort.postMessage({ id: message.id, result: await ops[message.op](pg, message), heap: heap() })
    } catch (error) {
      parentPort.postMessage({ id: message.id, error: errorOf(error), heap: heap() })
    }
  })
})
