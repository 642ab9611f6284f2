/**
 * Operations per second of `op` in a tight loop on this thread for `seconds`, after a
 * warm-up; prints one line (`label`, ops/s, µs/op). For the JWT micro-benchmarks.
 */
export async function opRate(label: string, seconds: number, op: () => unknown, warmUp = 100): Promise<number> {
  for (let i = 0; i < warmUp; i++) await op()
  let count = 0
  const end = performance.now() + seconds * 1000
  while (performance.now() < end) {
    for (let i = 0; i < 20; i++) await op()
    count += 20
  }
  const perSecond = Math.round(count / seconds)
  console.log(`${label.padEnd(48)} ${String(perSecond).padStart(8)} ops/s  ${(1e6 / perSecond).toFixed(0).padStart(6)} µs/op`)
  return perSecond
}
