/**
 * The last-resort guard: a run whose promise can never settle must fail the step with a
 * message instead of letting Node exit 0 once the event loop is empty.
 */
import { describe, expect, it, jest } from '@jest/globals'
import { execFile } from 'node:child_process'
import { EventEmitter } from 'node:events'
import { fileURLToPath } from 'node:url'
import { guardEarlyExit, type ExitEvents } from '../../shared/client/exit-guard'
import { itStartsProcess } from '../tiers'

const emitter = (): EventEmitter & ExitEvents => new EventEmitter() as EventEmitter & ExitEvents

describe('guardEarlyExit', () => {
  it('reports a drain that comes before the work settled', async () => {
    const events = emitter()
    const onDrain = jest.fn()
    let finish: () => void = () => undefined
    const guarded = guardEarlyExit(() => new Promise<void>((resolve) => (finish = resolve)), onDrain, events)
    events.emit('beforeExit')
    expect(onDrain).toHaveBeenCalledTimes(1)
    finish()
    await guarded
  })

  it('stays silent once the work settled, and leaves no listener behind', async () => {
    const events = emitter()
    const onDrain = jest.fn()
    await expect(guardEarlyExit(async () => 'done', onDrain, events)).resolves.toBe('done')
    await expect(guardEarlyExit(async () => Promise.reject(new Error('x')), onDrain, events)).rejects.toThrow('x')
    events.emit('beforeExit')
    expect(onDrain).not.toHaveBeenCalled()
    expect(events.listenerCount('beforeExit')).toBe(0)
  })

  itStartsProcess(
    'makes a real action process whose request never settles exit 1 with a message, not 0',
    async () => {
      const tsx = fileURLToPath(new URL('../../node_modules/.bin/tsx', import.meta.url))
      const script = fileURLToPath(new URL('./fixtures/never-settles.ts', import.meta.url))
      const { code, stdout } = await new Promise<{ code: number | null; stdout: string }>((resolve) => {
        execFile(tsx, [script], { env: { PATH: process.env.PATH ?? '' }, timeout: 60_000 }, (error, stdout) =>
          resolve({ code: error ? ((error as { code?: number }).code ?? null) : 0, stdout })
        )
      })
      expect(code).toBe(1)
      expect(stdout).toMatch(/^::error::federate: stopped before it finished/m)
      // It got as far as the request (no earlier failure), and nothing claimed a result.
      expect(stdout).not.toMatch(/^(output|setFailed) /m)
    },
    90_000
  )
})
