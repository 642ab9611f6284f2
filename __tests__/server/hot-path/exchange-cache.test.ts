/**
 * The embedded database's exchange-inputs cache: served from memory, and exact: any write to
 * agents or trust policies (also inside a transaction) is seen by the next read.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals'
import type { Db } from '../../../shared/server/store/db'
import { ExchangeInputsCache, type ExchangeInputs } from '../../../shared/server/store/exchange-cache'
import { Store } from '../../../shared/server/store/store'
import { openTestDatabase } from '../helpers'

describe('ExchangeInputsCache', () => {
  const inputs = (n: number): ExchangeInputs => ({
    agent: undefined,
    policies: [{ id: `p${n}`, provider: 'github', issuer: 'https://issuer.test', repository: 'a/b', createdAt: '' }]
  })

  it('loads once per repository name and id, then serves from memory', async () => {
    const cache = new ExchangeInputsCache()
    let loads = 0
    const load = async (): Promise<ExchangeInputs> => inputs(++loads)
    expect((await cache.read(undefined, 'https://issuer.test', 'acme/widgets', '1', load)).policies[0]!.id).toBe('p1')
    expect((await cache.read(undefined, 'https://issuer.test', 'acme/widgets', '1', load)).policies[0]!.id).toBe('p1')
    expect((await cache.read(undefined, 'https://issuer.test', 'acme/widgets', '2', load)).policies[0]!.id).toBe('p2')
    // Another spelling is another entry: the database decides which policies match it.
    expect((await cache.read(undefined, 'https://issuer.test', 'Acme/Widgets', '1', load)).policies[0]!.id).toBe('p3')
    expect(loads).toBe(3)
  })

  it('does not keep a read that overlapped a write', async () => {
    const cache = new ExchangeInputsCache()
    let loads = 0
    await cache.read(undefined, 'https://issuer.test', 'a/b', '1', async () => {
      cache.invalidate() // a write committed while this read ran
      return inputs(++loads)
    })
    await cache.read(undefined, 'https://issuer.test', 'a/b', '1', async () => inputs(++loads))
    expect(loads).toBe(2)
  })

  it('is bounded: the oldest entries go first', async () => {
    const cache = new ExchangeInputsCache(3)
    let loads = 0
    const load = async (): Promise<ExchangeInputs> => inputs(++loads)
    for (const id of ['1', '2', '3', '4']) await cache.read(undefined, 'https://issuer.test', 'a/b', id, load)
    await cache.read(undefined, 'https://issuer.test', 'a/b', '4', load)
    expect(loads).toBe(4)
    await cache.read(undefined, 'https://issuer.test', 'a/b', '1', load)
    expect(loads).toBe(5)
  })

  it('hands out frozen values: a caller cannot change what the next request sees', async () => {
    const cache = new ExchangeInputsCache()
    await cache.read(undefined, 'https://issuer.test', 'a/b', '1', async () => inputs(1))
    const cached = await cache.read(undefined, 'https://issuer.test', 'a/b', '1', async () => inputs(2))
    expect(Object.isFrozen(cached.policies)).toBe(true)
    expect(Object.isFrozen(cached.policies[0])).toBe(true)
  })
})

describe('Store.exchangeInputs on the embedded database', () => {
  let db: Db
  let store: Store
  let reads = 0

  beforeAll(async () => {
    const inner = await openTestDatabase()
    // Count the exchange's read statement only.
    db = {
      ...inner,
      kind: inner.kind,
      query: (sql, params) => ((reads += /to_jsonb\(a\)/.test(sql) ? 1 : 0), inner.query(sql, params)),
      transaction: (fn) => inner.transaction(fn),
      close: () => inner.close()
    }
    store = new Store(db)
  })
  afterAll(() => db.close())

  it('serves repeated exchanges from memory and sees every change to agents and policies at once', async () => {
    const { agent } = await store.agents.register({
      issuer: 'https://issuer.test',
      name: 'cache@agents.example',
      description: '',
      repository: 'acme/cache',
      repositoryId: '9'
    })
    const read = (): ReturnType<Store['exchangeInputs']['read']> => store.exchangeInputs.read(agent.id, 'https://issuer.test', 'acme/cache', '9')
    expect((await read()).policies).toEqual([])
    reads = 0
    await read()
    await read()
    expect(reads).toBe(0)

    const policy = await store.policies.create({ issuer: 'https://issuer.test', provider: 'github', repository: 'acme/cache' })
    expect((await read()).policies.map((p) => p.id)).toEqual([policy.id])

    await store.agents.disable(agent.id)
    expect((await read()).agent?.status).toBe('disabled')

    await store.policies.delete(policy.id)
    expect((await read()).policies).toEqual([])

    // A write inside a transaction: seen after the commit.
    await store.transaction(async (tx) => {
      await tx.policies.create({ issuer: 'https://issuer.test', provider: 'github', repository: 'ACME/cache', branch: 'main' })
    })
    expect((await read()).policies.map((p) => p.branch)).toEqual(['main'])

    // A rolled-back transaction leaves no trace in the cache either.
    await expect(
      store.transaction(async (tx) => {
        await tx.policies.create({ issuer: 'https://issuer.test', provider: 'github', repository: 'acme/cache', branch: 'release' })
        throw new Error('roll back')
      })
    ).rejects.toThrow('roll back')
    expect((await read()).policies.map((p) => p.branch)).toEqual(['main'])
  })

  it('sees a renamed repository', async () => {
    const { agent } = await store.agents.register({
      issuer: 'https://issuer.test',
      name: 'renamed@agents.example',
      description: '',
      repository: 'acme/old',
      repositoryId: '10'
    })
    expect((await store.exchangeInputs.read(agent.id, 'https://issuer.test', 'acme/old', '10')).agent?.repository).toBe('acme/old')
    await store.agents.rename(agent.id, 'acme/new')
    expect((await store.exchangeInputs.read(agent.id, 'https://issuer.test', 'acme/new', '10')).agent?.repository).toBe('acme/new')
  })
})
