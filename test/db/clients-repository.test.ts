import { afterAll, beforeAll, beforeEach, describe, expect, test } from 'vitest'
import { openDatabase, type Database } from '../../src/db/database.js'
import { ClientInputError, ClientsRepository, createClients, MAX_CLIENT_ID } from '../../src/db/clients-repository.js'
import { createTestDatabase, testBackends, type TestDatabase } from '../helpers/database.js'

describe.each(testBackends())('clients on %s', (backend) => {
  let t: TestDatabase
  beforeAll(async () => { t = await createTestDatabase({ backend }) })
  afterAll(async () => { await t.drop() })
  beforeEach(async () => { await t.db.query('DELETE FROM clients') })

  test('createClients numbers from 1 with fresh 20-byte base64 secrets, as ykval-gen-clients', async () => {
    const made = await createClients(t.db, { count: 3, now: 1_700_000_000 })
    expect(made.map((c) => c.id)).toEqual([1, 2, 3])
    for (const c of made) {
      expect(c.secret).toMatch(/^[A-Za-z0-9+/]{27}=$/)
      expect(Buffer.from(c.secret, 'base64')).toHaveLength(20)
    }
    expect(new Set(made.map((c) => c.secret)).size).toBe(3)
    const { rows } = await t.db.query('SELECT id, active, created, secret, email, notes, otp FROM clients ORDER BY id')
    expect(rows).toEqual(made.map((c) => ({ id: c.id, active: true, created: 1_700_000_000, secret: c.secret, email: '', notes: '', otp: '' })))
  })

  test('createClients continues after the highest id and stores notes, email and otp', async () => {
    await t.db.query("INSERT INTO clients (id, created, secret) VALUES (41, 1, 'a'), (7, 1, 'b')")
    const made = await createClients(t.db, { count: 2, now: 5, notes: 'ci', email: 'a@example.com', otp: 'cccccccccccbtest' })
    expect(made.map((c) => c.id)).toEqual([42, 43])
    const repo = new ClientsRepository(t.db)
    expect(await repo.getClient(43)).toEqual({
      id: 43, active: true, created: 5, secret: made[1]!.secret, email: 'a@example.com', notes: 'ci', otp: 'cccccccccccbtest'
    })
  })

  test('bad input is refused with a message naming it, and nothing is written', async () => {
    for (const count of [0, -1, 1.5, Number.NaN, 100_001]) {
      await expect(createClients(t.db, { count, now: 1 })).rejects.toThrow(/number of clients must be a whole number/)
    }
    await expect(createClients(t.db, { count: 1, now: 1, notes: 'x'.repeat(101) })).rejects.toThrow(/notes is 101 characters long; .* at most 100/)
    await expect(createClients(t.db, { count: 1, now: 1, email: 'x'.repeat(256) })).rejects.toThrow(ClientInputError)
    await t.db.query("INSERT INTO clients (id, created, secret) VALUES ($1, 1, 'top')", [MAX_CLIENT_ID - 1])
    await expect(createClients(t.db, { count: 2, now: 1 })).rejects.toThrow(/ids would pass 2147483647/)
    expect((await t.db.query('SELECT count(*)::int AS n FROM clients')).rows).toEqual([{ n: 1 }])
  })

  test('getClient returns the row, inactive ones too, and null for unknown or impossible ids', async () => {
    await t.db.query("INSERT INTO clients (id, active, created, secret, email, notes, otp) VALUES (1, FALSE, 10, 'c2VjcmV0', NULL, NULL, NULL)")
    const repo = new ClientsRepository(t.db)
    expect(await repo.getClient(1)).toEqual({ id: 1, active: false, created: 10, secret: 'c2VjcmV0', email: null, notes: '', otp: '' })
    await t.db.query('UPDATE clients SET active = NULL')
    expect((await repo.getClient(1))?.active).toBe(false)
    for (const id of [2, 0, -1, MAX_CLIENT_ID + 1, 2 ** 53, 1.5]) expect(await repo.getClient(id)).toBeNull()
  })

  test('concurrent createClients calls never hand out the same id', async () => {
    const runs = await Promise.all(Array.from({ length: 8 }, async () => createClients(t.db, { count: 5, now: 1 })))
    const ids = runs.flat().map((c) => c.id).sort((a, b) => a - b)
    expect(ids).toEqual(Array.from({ length: 40 }, (_, i) => i + 1))
    // Each run got a consecutive block.
    for (const run of runs) expect(run.map((c) => c.id - run[0]!.id)).toEqual([0, 1, 2, 3, 4])
  })
})

describe.runIf(testBackends().includes('postgresql'))('createClients across processes (PostgreSQL)', () => {
  test('separate pools (as separate `clients gen` runs) creating at once all succeed with distinct ids', async () => {
    const t = await createTestDatabase({ backend: 'postgresql' })
    const pools: Database[] = await Promise.all(Array.from({ length: 6 }, async () => openDatabase(t.config({ dbPoolSize: 1 }))))
    try {
      for (let round = 0; round < 5; round++) {
        const runs = await Promise.all(pools.map(async (p) => createClients(p, { count: 3, now: 1 })))
        const ids = runs.flat().map((c) => c.id)
        expect(new Set(ids).size).toBe(18)
        expect(Math.max(...ids)).toBe(18 * (round + 1))
      }
    } finally {
      await Promise.all(pools.map(async (p) => p.close()))
      await t.drop()
    }
  })
})
