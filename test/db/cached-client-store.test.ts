import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { CachedClientStore } from '../../src/db/cached-client-store.js'
import { ClientsRepository } from '../../src/db/clients-repository.js'
import type { ClientRecord, ClientStore } from '../../src/db/types.js'
import { createTestDatabase, testBackends, type TestDatabase } from '../helpers/database.js'

function client (id: number, active = true): ClientRecord {
  return { id, active, created: 1, secret: 'c2VjcmV0', email: null, notes: '', otp: '' }
}

/** An in-memory ClientStore that counts lookups; `release` lets a test hold lookups in flight. */
class FakeStore implements ClientStore {
  readonly rows = new Map<number, ClientRecord>()
  calls = 0
  gate: Promise<void> | null = null
  async getClient (id: number): Promise<ClientRecord | null> {
    this.calls++
    if (this.gate !== null) await this.gate
    return this.rows.get(id) ?? null
  }
}

function setup (opts: { ttlMs?: number, maxEntries?: number, maxNegativeEntries?: number } = {}) {
  const inner = new FakeStore()
  const clock = { ms: 1_000_000 }
  const cache = new CachedClientStore(inner, { ttlMs: 500, ...opts, now: () => clock.ms })
  return { inner, clock, cache }
}

describe('CachedClientStore', () => {
  test('serves a client from memory until the TTL has passed, then asks again', async () => {
    const { inner, clock, cache } = setup()
    inner.rows.set(1, client(1))
    expect(await cache.getClient(1)).toEqual(client(1))
    inner.rows.set(1, client(1, false))
    clock.ms += 499
    expect((await cache.getClient(1))?.active).toBe(true)
    expect(inner.calls).toBe(1)
    clock.ms += 1
    expect((await cache.getClient(1))?.active).toBe(false)
    expect(inner.calls).toBe(2)
  })

  test('caches unknown ids too, and sees a client created after the TTL', async () => {
    const { inner, clock, cache } = setup()
    for (let i = 0; i < 5; i++) expect(await cache.getClient(9)).toBeNull()
    expect(inner.calls).toBe(1)
    inner.rows.set(9, client(9))
    clock.ms += 500
    expect(await cache.getClient(9)).toEqual(client(9))
  })

  test('is bounded: old entries are evicted, and unknown ids cannot evict known clients', async () => {
    const { inner, cache } = setup({ maxEntries: 2, maxNegativeEntries: 3 })
    for (const id of [1, 2, 3]) inner.rows.set(id, client(id))
    for (const id of [1, 2, 3]) await cache.getClient(id)
    for (let id = 100; id < 200; id++) await cache.getClient(id)
    expect(cache.size).toEqual({ found: 2, missing: 3 })
    const before = inner.calls
    await cache.getClient(2)
    await cache.getClient(3)
    expect(inner.calls).toBe(before)
    await cache.getClient(1) // evicted first
    expect(inner.calls).toBe(before + 1)
  })

  test('concurrent lookups of one id share one query', async () => {
    const { inner, cache } = setup()
    inner.rows.set(1, client(1))
    let open!: () => void
    inner.gate = new Promise((resolve) => { open = resolve })
    const pending = Array.from({ length: 10 }, async () => cache.getClient(1))
    open()
    expect(await Promise.all(pending)).toEqual(Array(10).fill(client(1)))
    expect(inner.calls).toBe(1)
  })

  test('the TTL counts from when the query started, so a slow query cannot stretch it', async () => {
    const { inner, clock, cache } = setup()
    inner.rows.set(1, client(1))
    let open!: () => void
    inner.gate = new Promise((resolve) => { open = resolve })
    const first = cache.getClient(1)
    clock.ms += 400 // the query takes 400 ms
    open()
    await first
    inner.gate = null
    clock.ms += 100 // 500 ms after the query started
    await cache.getClient(1)
    expect(inner.calls).toBe(2)
  })

  test('a TTL of 0 disables caching', async () => {
    const { inner, cache } = setup({ ttlMs: 0 })
    await cache.getClient(1)
    await cache.getClient(1)
    expect(inner.calls).toBe(2)
  })

  test('a failed lookup is not cached', async () => {
    let fail = true
    const inner: ClientStore = { getClient: async (id) => { if (fail) throw new Error('db down'); return client(id) } }
    const cache = new CachedClientStore(inner, { ttlMs: 500, now: () => 0 })
    await expect(cache.getClient(1)).rejects.toThrow('db down')
    fail = false
    expect(await cache.getClient(1)).toEqual(client(1))
  })
})

describe.each(testBackends())('CachedClientStore over the clients table on %s', (backend) => {
  let t: TestDatabase
  beforeAll(async () => { t = await createTestDatabase({ backend }) })
  afterAll(async () => { await t.drop() })

  test('disabling a client in the database is seen once the TTL has passed', async () => {
    await t.db.query("INSERT INTO clients (id, created, secret) VALUES (5, 1, 'c2VjcmV0')")
    const clock = { ms: 0 }
    const cache = new CachedClientStore(new ClientsRepository(t.db), { ttlMs: 500, now: () => clock.ms })
    expect((await cache.getClient(5))?.active).toBe(true)
    await t.db.query('UPDATE clients SET active = FALSE WHERE id = 5')
    clock.ms = 499
    expect((await cache.getClient(5))?.active).toBe(true)
    clock.ms = 500
    expect((await cache.getClient(5))?.active).toBe(false)
  })
})

describe('createStores', () => {
  test('wires the cached client store with config.clientCacheMs and the yubikeys repository', async () => {
    const t = await createTestDatabase({ backend: 'pglite' })
    try {
      const { createStores } = await import('../../src/db/stores.js')
      expect(createStores(t.db, t.config({ clientCacheMs: 1000 })).clients).toBeInstanceOf(CachedClientStore)
      // With the cache off, a disable is seen at once.
      const stores = createStores(t.db, t.config({ clientCacheMs: 0 }))
      await t.db.query("INSERT INTO clients (id, created, secret) VALUES (3, 1, 'c2VjcmV0')")
      expect((await stores.clients.getClient(3))?.active).toBe(true)
      await t.db.query('UPDATE clients SET active = FALSE')
      expect((await stores.clients.getClient(3))?.active).toBe(false)
      expect(await stores.yubikeys.accept({ publicId: 'cccccccccccb', counter: 1, use: 0, low: 0, high: 0, nonce: 'n', now: 1 })).toEqual({ accepted: true })
    } finally {
      await t.drop()
    }
  })
})
