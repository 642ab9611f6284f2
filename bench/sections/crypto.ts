/** 3. (reference) The crypto-only rate of one exchange, measured in its own process. */
import { fork } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { fmt, median } from '../lib/stats'
import type { ResultTable } from '../lib/table'

const CHILD = fileURLToPath(new URL('../lib/crypto-child.ts', import.meta.url))

export interface CryptoRates {
  nodeCrypto: number
  jose: number
  alg: string
}

export async function cryptoReference(table: ResultTable, seconds: number, repetitions: number): Promise<CryptoRates> {
  const child = fork(CHILD, [String(seconds), String(repetitions)], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
  const answer = await new Promise<{ nodeCrypto: number[]; jose: number[]; alg: string }>((resolve, reject) => {
    let got: { nodeCrypto: number[]; jose: number[]; alg: string } | undefined
    child.once('message', (m: typeof got) => (got = m))
    child.once('exit', (code) => (got ? resolve(got) : reject(new Error(`crypto reference exited with ${code}`))))
  })
  const rates = { nodeCrypto: median(answer.nodeCrypto), jose: median(answer.jose), alg: answer.alg }
  table.add({
    section: '3. crypto-only reference',
    metric: `RS256 verify + ${rates.alg} sign, node:crypto, 1 core`,
    value: `${fmt(rates.nodeCrypto)} ops/s`
  })
  table.add({
    section: '3. crypto-only reference',
    metric: `RS256 verify + ${rates.alg} sign, jose, 1 core`,
    value: `${fmt(rates.jose)} ops/s`,
    reference: `node:crypto ${fmt(rates.nodeCrypto)} ops/s`,
    ratio: `${((rates.jose / rates.nodeCrypto) * 100).toFixed(0)}%`
  })
  return rates
}
