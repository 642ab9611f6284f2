/**
 * The embedded database on disk, run in a worker thread (pglite-thread-worker.mjs). A statement's
 * WebAssembly then runs beside the event loop that parses requests and signs tokens, not
 * inside it: the exchange's writes leave the request thread (bench/ANALYSIS.md, "The exchange
 * by stage"). The calls keep the Db contract: statements run in the order they are sent, and a
 * transaction holds the database alone (statements sent from outside it wait for its end, as
 * PGlite's own transaction() makes them wait).
 */
import { Worker } from 'node:worker_threads'
import type { Db, Queryable, QueryResult } from './db'

const WORKER_URL = new URL('./pglite-thread-worker.mjs', import.meta.url)
/** How long a clean close may take before the thread is terminated. */
const CLOSE_MS = 10_000

interface Reply {
  id?: number
  ready?: boolean
  rows?: unknown[]
  affectedRows?: number
  error?: { name: string; message: string } & Record<string, unknown>
}

/** The database error as the caller would have had it in-process: message, code, constraint, detail... */
function databaseError(fields: NonNullable<Reply['error']>): Error {
  const { name, message, ...rest } = fields
  return Object.assign(new Error(message), { name }, rest)
}

export async function openPgliteThread(dataDir: string, startParams: string[], wasmModule: unknown): Promise<Db> {
  const worker = new Worker(WORKER_URL, { workerData: { dataDir, startParams, wasmModule }, resourceLimits: { maxYoungGenerationSizeMb: 4 } })
  const pending = new Map<number, { resolve(result: QueryResult<unknown>): void; reject(error: Error): void }>()
  let nextId = 0
  let ended: Error | undefined
  const exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()))

  const ready = new Promise<void>((resolve, reject) => {
    worker.on('message', (reply: Reply) => {
      if (reply.id === undefined) {
        if (reply.ready) resolve()
        else reject(reply.error ? databaseError(reply.error) : new Error('the embedded database did not open'))
        return
      }
      const call = pending.get(reply.id)
      pending.delete(reply.id)
      if (reply.error) call?.reject(databaseError(reply.error))
      else call?.resolve({ rows: reply.rows ?? [], rowCount: reply.affectedRows ?? reply.rows?.length ?? 0 })
    })
    worker.on('error', (error) => {
      ended ??= new Error(`the embedded database stopped: ${error.message}`)
      reject(ended)
    })
    worker.once('exit', (code) => {
      ended ??= new Error(`the embedded database stopped (its thread exited with code ${code})`)
      reject(ended)
      for (const call of pending.values()) call.reject(ended)
      pending.clear()
    })
  })
  await ready

  const send = <Row>(message: { sql: string; params?: unknown[] } | { close: true }): Promise<QueryResult<Row>> => {
    if (ended) return Promise.reject(ended)
    const id = ++nextId
    return new Promise<QueryResult<Row>>((resolve, reject) => {
      pending.set(id, { resolve: resolve as (result: QueryResult<unknown>) => void, reject })
      worker.postMessage({ id, ...message })
    })
  }

  /**
   * The running transaction's end. Statements from outside it wait for it; the check and what
   * follows it run with no await between them, so no other transaction can start in the gap.
   */
  let active: Promise<void> | undefined

  const inside: Queryable = { query: (sql, params) => send({ sql, params }) }

  return {
    kind: 'pglite',
    async query<Row>(sql: string, params?: unknown[]) {
      while (active) await active
      return send<Row>({ sql, params })
    },
    async transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T> {
      while (active) await active
      let release!: () => void
      active = new Promise<void>((resolve) => (release = resolve))
      try {
        await send({ sql: 'BEGIN' })
        let result: T
        try {
          result = await fn(inside)
        } catch (error) {
          await send({ sql: 'ROLLBACK' }).catch(() => undefined)
          throw error
        }
        await send({ sql: 'COMMIT' })
        return result
      } finally {
        active = undefined
        release()
      }
    },
    async close() {
      if (!ended) {
        const timer = setTimeout(() => void worker.terminate(), CLOSE_MS)
        await send({ close: true }).catch(() => undefined)
        clearTimeout(timer)
        ended = new Error('the embedded database was closed')
      }
      await exited
    }
  }
}
