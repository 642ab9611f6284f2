/**
 * The last resort against a silent success: Node exits with code 0 once its event loop is
 * empty, even when the action's promise is still pending (a library promise that can never
 * settle). 'beforeExit' fires exactly then; if the run has not settled, it is reported.
 */
export interface ExitEvents {
  once(event: 'beforeExit', listener: () => void): unknown
  removeListener(event: 'beforeExit', listener: () => void): unknown
}

/** Runs `work`; calls `onDrain` if the process is about to exit before `work` settled. */
export async function guardEarlyExit<T>(work: () => Promise<T>, onDrain: () => void, events: ExitEvents = process): Promise<T> {
  const listener = (): void => onDrain()
  events.once('beforeExit', listener)
  try {
    return await work()
  } finally {
    events.removeListener('beforeExit', listener)
  }
}
