// Probe: what reading the trust policies costs per exchange as their number grows (embedded
// database): listPolicies() (every policy, what the exchange does today) vs the token's
// repository only (policiesForRepository + repository_id, as decide() needs).
import { randomUUID } from 'node:crypto'
import { openDatabase } from '../../shared/server/store/open'
import { Store } from '../../shared/server/store/store'

const db = await openDatabase({})
const store = new Store(db)
let count = 0
for (const target of [10, 100, 1000, 5000]) {
  while (count < target) {
    await store.createPolicy({ provider: 'github', repository: `org${count}/repo${count}`, agentId: randomUUID() } as never)
    count++
  }
  const time = async (fn: () => Promise<unknown>): Promise<number> => {
    for (let i = 0; i < 5; i++) await fn()
    const start = performance.now()
    for (let i = 0; i < 50; i++) await fn()
    return (performance.now() - start) / 50
  }
  const all = await time(() => store.listPolicies())
  const one = await time(() => db.query('SELECT * FROM trust_policies WHERE lower(repository) = lower($1) OR repository_id = $2 ORDER BY created_at, id', ['org7/repo7', '7']))
  console.log(`${String(target).padStart(5)} policies: listPolicies ${all.toFixed(2)} ms, this repository only ${one.toFixed(2)} ms`)
}
await db.close()
