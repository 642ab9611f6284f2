/**
 * Audit of refusals that anyone can cause in bulk: tokens that fail verification (garbage,
 * wrong audience, unknown issuer) and rate-limited requests. One audit row each would let
 * anyone with a loop fill the audit log, push real events out of its views and load the
 * database, so the first refusal of a kind in each window is recorded in full at once, and
 * the repeats are counted and recorded as one aggregate row when the window closes (with
 * a bounded sample of their token hashes). Metrics count every one of them.
 */
import type { AuditInput, Store } from './store/store'

/** A refusal to audit: `kind` says which refusals are "the same" (aggregated together). */
export interface Denial extends AuditInput {
  kind: string
  detail: Record<string, unknown> & { code: string; tokenSha256?: string }
}

interface Window {
  first: Denial
  /** Repeats after the first, not yet written. */
  count: number
  from: Date
  to: Date
  tokenSha256s: string[]
}

export interface DenialAuditOptions {
  windowMs?: number
  /** Distinct kinds tracked per window; more fall into one overflow kind per action. */
  maxKinds?: number
  /** Token hashes kept per aggregate row. */
  maxSamples?: number
}

export class DenialAudit {
  private windows = new Map<string, Window>()
  private timer: NodeJS.Timeout | undefined
  private readonly windowMs: number
  private readonly maxKinds: number
  private readonly maxSamples: number

  constructor(
    private readonly store: Store,
    private readonly now: () => Date,
    options: DenialAuditOptions = {}
  ) {
    this.windowMs = options.windowMs ?? 60_000
    this.maxKinds = options.maxKinds ?? 1_000
    this.maxSamples = options.maxSamples ?? 20
  }

  /** Records a refusal: written now if it is the first of its kind in this window, else counted. */
  async record(denial: Denial): Promise<void> {
    let kind = denial.kind
    if (!this.windows.has(kind) && this.windows.size >= this.maxKinds) kind = `${denial.action}|overflow`
    const open = this.windows.get(kind)
    const at = this.now()
    if (open) {
      open.count++
      open.to = at
      const hash = denial.detail.tokenSha256
      if (hash && open.tokenSha256s.length < this.maxSamples) open.tokenSha256s.push(hash)
      return
    }
    this.windows.set(kind, { first: denial, count: 0, from: at, to: at, tokenSha256s: [] })
    this.timer ??= setTimeout(() => void this.flush().catch(() => undefined), this.windowMs).unref()
    const { kind: _kind, ...event } = denial
    await this.store.audit.record(event)
  }

  /** Writes one aggregate row per kind that had repeats, and opens a new window. */
  async flush(): Promise<void> {
    clearTimeout(this.timer)
    this.timer = undefined
    const closed = this.windows
    this.windows = new Map()
    for (const window of closed.values()) {
      if (window.count === 0) continue
      const { kind: _kind, ...first } = window.first
      await this.store.audit.record({
        ...first,
        detail: {
          outcome: 'denied',
          code: first.detail.code,
          reason: first.detail.reason,
          aggregated: true,
          count: window.count,
          from: window.from.toISOString(),
          to: window.to.toISOString(),
          tokenSha256s: window.tokenSha256s
        }
      })
    }
  }

  /** At shutdown: nothing counted is lost. */
  async close(): Promise<void> {
    await this.flush()
  }
}
