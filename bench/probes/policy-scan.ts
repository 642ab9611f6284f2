// Probe: what reading the trust policies would cost per exchange as their number grows
// (embedded database): every policy (what the admin list reads) vs the token's repository
// only, by name or pinned repository_id, which is what the exchange reads (the store's
// policiesConcerning/exchangeInputs, filtered by issuer too): the case for that narrow read.
import { randomUUID } from 'node:crypto'
import { openDatabase } from '../../shared/server/store/open'
import { Store } from '../../shared/server/store/store'

const db = await openDatabase({})
const store = new Store(db)
let count = 0
for (const target of [10, 100, 1000, 5000]) {
  while (count < target) {
    await store.policies.create({ provider: 'github', repository: `org${count}/repo${count}`, agentId: randomUUID() } as never)
    count++
  }
  const time = async (fn: () => Promise<unknown>): Promise<number> => {
    for (let i = 0; i < 5; i++) await fn()
    const start = performance.now()
    for (let i = 0; i < 50; i++) await fn()
    return (performance.now() - start) / 50
  }
  const all = await time(() => store.policies.list())
  const one = await time(() => db.query('SELECT * FROM trust_policies WHERE lower(repository) = lower($1) OR repository_id = $2 ORDER BY created_at, id', ['org7/repo7', '7']))
  console.log(`${String(target).padStart(5)} policies: listPolicies ${all.toFixed(2)} ms, this repository only ${one.toFixed(2)} ms`)
}
await db.close()
