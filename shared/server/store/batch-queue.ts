/**
 * Group commit: callers that arrive while a statement is running wait for the next one, and
 * that next statement serves all of them. Under load, one database round trip then serves
 * many requests; alone, a caller waits only one turn of the event loop.
 */
interface Pending<Item, Result> {
  item: Item
  resolve: (result: Result) => void
  reject: (error: unknown) => void
}

export class BatchQueue<Item, Result> {
  private queue: Array<Pending<Item, Result>> = []
  private running = false

  /**
   * @param run one statement for the whole batch, results in the order of `items`
   * @param maxBatch items per statement; the rest wait for the next one
   */
  constructor(
    private readonly run: (items: Item[]) => Promise<Result[]>,
    private readonly maxBatch = 256
  ) {
    if (!(maxBatch >= 1)) throw new RangeError('maxBatch must be at least 1')
  }

  /** Resolves with this item's result once its batch has run. */
  add(item: Item): Promise<Result> {
    return new Promise<Result>((resolve, reject) => {
      this.queue.push({ item, resolve, reject })
      if (!this.running) {
        this.running = true
        // One turn of the event loop, so that requests parsed in the same turn share the statement.
        setImmediate(() => void this.drain())
      }
    })
  }

  private async drain(): Promise<void> {
    try {
      while (this.queue.length > 0) await this.runBatch(this.queue.splice(0, this.maxBatch))
    } finally {
      this.running = false
    }
  }

  private async runBatch(batch: Array<Pending<Item, Result>>): Promise<void> {
    try {
      const results = await this.run(batch.map((p) => p.item))
      batch.forEach((pending, i) => pending.resolve(results[i]!))
    } catch (error) {
      if (batch.length === 1) return batch[0]!.reject(error)
      // The statement is atomic, so nothing of the batch took effect. Run each item alone,
      // so that one caller's bad item fails only that caller.
      for (const pending of batch) {
        try {
          pending.resolve((await this.run([pending.item]))[0]!)
        } catch (single) {
          pending.reject(single)
        }
      }
    }
  }
}
