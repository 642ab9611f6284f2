/**
 * 5. Server memory: RSS after N exchanges vs after 1k on a fresh server (no growth with the
 * number of tokens issued). Tokens are minted in chunks right before use (the server
 * refuses OIDC tokens issued more than 6 min ago).
 */
import type { BenchServer } from '../lib/bench-server'
import type { TokenMinter } from '../lib/minter'
import { rssMiB } from '../lib/proc'
import { fmt, fmtRatio } from '../lib/stats'
import type { ResultTable } from '../lib/table'
import { exchangeRun, prepareAgent } from './server-load'

const TARGET = 1.5
const CHUNK = 20_000

/**
 * `total` exchanges, or as many as fit in `timeCapMs` (so that a slow server or a busy
 * machine does not stretch the bench past its budget); the row says which count was reached.
 */
export async function memoryGrowth(table: ResultTable, label: string, server: BenchServer, minter: TokenMinter, total: number, timeCapMs: number): Promise<void> {
  const agentId = await prepareAgent(server, minter, 'bench-memory@agents.example')
  const started = rssMiB(server.pid)
  let done = 0
  let failures = 0
  const deadline = Date.now() + timeCapMs
  const step = async (upTo: number): Promise<void> => {
    while (done < upTo && Date.now() < deadline) {
      const amount = Math.min(CHUNK, upTo - done)
      const result = await exchangeRun(server, minter, agentId, 16, amount)
      failures += result.errors + result.timeouts + result.non2xx
      done += amount
    }
  }
  await step(1000)
  const after1k = rssMiB(server.pid)
  await step(total)
  const afterAll = rssMiB(server.pid)
  const ratio = afterAll / after1k
  const capped = done < total ? ` (time cap ${Math.round(timeCapMs / 1000)} s: ${done} of ${total})` : ''
  table.add({
    section: `5. memory (${label})`,
    metric: `server RSS after ${(done / 1000).toFixed(done % 1000 ? 1 : 0)}k exchanges${capped}; idle after start ${fmt(started, 'MiB')}`,
    value: fmt(afterAll, 'MiB'),
    reference: `after 1k: ${fmt(after1k, 'MiB')}`,
    ratio: fmtRatio(ratio),
    target: `<= ${TARGET}x${done < 100_000 ? ' (at 100k)' : ''}`,
    pass: ratio <= TARGET
  })
  if (failures > 0) {
    table.add({ section: `5. memory (${label})`, metric: 'errors + non-2xx during the memory run', value: String(failures), target: '0', pass: false })
  }
}
