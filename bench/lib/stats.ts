/** Small statistics helpers: the bench reports medians of repeated runs and ratios. */

export function median(values: number[]): number {
  if (values.length === 0) return Number.NaN
  const sorted = [...values].sort((a, b) => a - b)
  const mid = sorted.length >> 1
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2
}

/** Milliseconds since `start` (a performance.now() or process.hrtime-based timestamp). */
export function msSince(start: number): number {
  return performance.now() - start
}

/** Rounds for display: 3 significant digits, no exponent notation. */
export function fmt(value: number, unit = ''): string {
  if (!Number.isFinite(value)) return 'n/a'
  const abs = Math.abs(value)
  const digits = abs >= 100 ? 0 : abs >= 10 ? 1 : 2
  return `${value.toFixed(digits)}${unit ? ` ${unit}` : ''}`
}

export function fmtRatio(value: number): string {
  return Number.isFinite(value) ? `${value.toFixed(2)}x` : 'n/a'
}
