import { afterAll, beforeAll, beforeEach, describe, expect, test } from 'vitest'
import { openDatabase, type Database, type Queryable } from '../../src/db/database.js'
import type { AcceptRequest } from '../../src/db/types.js'
import { YubikeysRepository } from '../../src/db/yubikeys-repository.js'
import { createTestDatabase, testBackends, type TestDatabase } from '../helpers/database.js'

const PUB = 'cccccccccccb'

function otp (counter: number, use: number, extra: Partial<AcceptRequest> = {}): AcceptRequest {
  return { publicId: PUB, counter, use, low: 0x1234, high: 0x56, nonce: 'nonce0123456789a', now: 1_700_000_000, ...extra }
}

/** Counts statements sent, to show what a call costs in database round trips. */
function counting (db: Queryable): { db: Queryable, count: () => number } {
  let n = 0
  return {
    db: { query: async (text, params, name) => { n++; return db.query(text, params, name) } },
    count: () => n
  }
}

describe.each(testBackends())('YubikeysRepository on %s', (backend) => {
  let t: TestDatabase
  let repo: YubikeysRepository
  beforeAll(async () => { t = await createTestDatabase({ backend }) })
  afterAll(async () => { await t.drop() })
  beforeEach(async () => {
    await t.db.query('DELETE FROM yubikeys')
    repo = new YubikeysRepository(t.db)
  })

  test('an unseen key is inserted with the OTP counters and accepted, in one round trip', async () => {
    const c = counting(t.db)
    const r = new YubikeysRepository(c.db)
    expect(await r.accept(otp(5, 3, { now: 1000 }))).toEqual({ accepted: true })
    expect(c.count()).toBe(1)
    expect(await repo.getYubikey(PUB)).toEqual({
      publicId: PUB, active: true, created: 1000, modified: 1000, counter: 5, use: 3, low: 0x1234, high: 0x56, nonce: 'nonce0123456789a', notes: ''
    })
  })

  test('a higher counter, or the same counter with a higher use, is accepted in one round trip and stored', async () => {
    await repo.accept(otp(5, 3, { now: 1000 }))
    const c = counting(t.db)
    const r = new YubikeysRepository(c.db)
    expect(await r.accept(otp(5, 4, { now: 1001, low: 1, high: 2, nonce: 'second' }))).toEqual({ accepted: true })
    expect(c.count()).toBe(1)
    expect(await repo.getYubikey(PUB)).toMatchObject({ created: 1000, modified: 1001, counter: 5, use: 4, low: 1, high: 2, nonce: 'second' })
    // A new session resets use: (6, 0) is still higher than (5, 4).
    expect(await r.accept(otp(6, 0, { now: 1002 }))).toEqual({ accepted: true })
    expect(c.count()).toBe(2)
    expect(await repo.getYubikey(PUB)).toMatchObject({ modified: 1002, counter: 6, use: 0 })
  })

  test('equal or lower counters are refused, leave the row unchanged and report it', async () => {
    await repo.accept(otp(5, 3, { now: 1000 }))
    const before = await repo.getYubikey(PUB)
    for (const [counter, use] of [[5, 3], [5, 2], [4, 200], [0, 0]] as const) {
      // Timestamps never matter: a later timestamp does not make an old OTP new.
      const res = await repo.accept(otp(counter, use, { now: 2000, low: 0xffff, high: 0xff, nonce: 'other' }))
      expect(res).toEqual({ accepted: false, current: before })
    }
    expect(await repo.getYubikey(PUB)).toEqual(before)
  })

  test('a disabled key refuses even higher counters and stays unchanged', async () => {
    await repo.accept(otp(5, 3, { now: 1000 }))
    await t.db.query('UPDATE yubikeys SET active = FALSE WHERE yk_publicname = $1', [PUB])
    const before = await repo.getYubikey(PUB)
    expect(before?.active).toBe(false)
    expect(await repo.accept(otp(9, 0, { now: 2000 }))).toEqual({ accepted: false, current: before })
    expect(await repo.getYubikey(PUB)).toEqual(before)
    // NULL (possible in yubikey-val's schema) is not active either.
    await t.db.query('UPDATE yubikeys SET active = NULL WHERE yk_publicname = $1', [PUB])
    const res = await repo.accept(otp(9, 0))
    expect(res.accepted).toBe(false)
    expect(res.accepted === false && res.current?.active).toBe(false)
  })

  test('rows in yubikey-val\'s "never seen" state (-1 counters) accept the first OTP', async () => {
    await t.db.query(`INSERT INTO yubikeys VALUES (TRUE, 1, -1, $1, -1, -1, -1, -1, '0000000000000000', '')`, [PUB])
    expect(await repo.accept(otp(0, 0))).toEqual({ accepted: true })
  })

  test('getYubikey of an unknown key is null; other keys are independent', async () => {
    expect(await repo.getYubikey('vvvvvvvvvvvv')).toBeNull()
    await repo.accept(otp(5, 3))
    expect(await repo.accept(otp(1, 0, { publicId: 'vvvvvvvvvvvv' }))).toEqual({ accepted: true })
    expect((await repo.getYubikey('vvvvvvvvvvvv'))?.counter).toBe(1)
    expect((await repo.getYubikey(PUB))?.counter).toBe(5)
  })

  test('counters never go backwards over a shuffled sequence of OTPs', async () => {
    const seq: Array<[number, number]> = []
    for (let c = 0; c < 6; c++) for (let u = 0; u < 6; u++) seq.push([c, u])
    // Deterministic shuffle (no randomness in assertions).
    const shuffled = seq.map((v, i) => ({ v, k: (i * 7919) % seq.length })).sort((a, b) => a.k - b.k).map((x) => x.v)
    let best: [number, number] = [-1, -1]
    for (const [c, u] of shuffled) {
      const higher = c > best[0] || (c === best[0] && u > best[1])
      expect((await repo.accept(otp(c, u))).accepted).toBe(higher)
      if (higher) best = [c, u]
      const row = await repo.getYubikey(PUB)
      expect([row?.counter, row?.use]).toEqual(best)
    }
    expect(best).toEqual([5, 5])
  })

  test('concurrent accepts of one OTP on one database handle: exactly one wins', async () => {
    for (let round = 0; round < 10; round++) {
      const results = await Promise.all(Array.from({ length: 20 }, async () => repo.accept(otp(round, 0))))
      expect(results.filter((r) => r.accepted)).toHaveLength(1)
    }
  })
})

describe.runIf(testBackends().includes('postgresql'))('YubikeysRepository under real concurrency (PostgreSQL)', () => {
  const POOL = 25
  let t: TestDatabase
  let pools: Database[]
  let repos: YubikeysRepository[]

  beforeAll(async () => {
    t = await createTestDatabase({ backend: 'postgresql' })
    // Two pools (as two replicas) of 25 connections each, all connected before the races start.
    pools = await Promise.all([0, 1].map(async () => openDatabase(t.config({ dbPoolSize: POOL }))))
    await Promise.all(pools.flatMap((p) => Array.from({ length: POOL }, async () => p.transaction(async (tx) => {
      await tx.query('SELECT pg_sleep(0.05)')
    }))))
    repos = pools.map((p) => new YubikeysRepository(p))
  })
  afterAll(async () => {
    await Promise.all(pools.map(async (p) => p.close()))
    await t.drop()
  })

  test('the pools really hold 50 separate server connections', async () => {
    const { rows } = await t.db.query<{ n: number }>(
      "SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'yubival' AND pid <> pg_backend_pid()")
    expect(rows[0]?.n).toBeGreaterThanOrEqual(2 * POOL)
  })

  test('50 concurrent accepts of the same OTP, many times over: exactly one accepted each time', async () => {
    for (let round = 0; round < 30; round++) {
      // Round 0..: the first round inserts the key (insert race), later rounds update it (update race).
      const req = otp(round, round % 3, { nonce: `round${round}xxxxxxxxxxx` })
      const results = await Promise.all(Array.from({ length: 2 * POOL }, async (_, i) => repos[i % 2]!.accept(req)))
      expect(results.filter((r) => r.accepted)).toHaveLength(1)
      for (const r of results) if (!r.accepted) expect(r.current).toMatchObject({ counter: round, use: round % 3 })
    }
  })

  test('a first use raced by 50 requests for 20 new keys: one winner per key', async () => {
    for (let k = 0; k < 20; k++) {
      const publicId = `vvvvvvvv${String(k).padStart(4, '0').replace(/\d/g, (d) => 'cbdefghijk'[Number(d)]!)}`
      const results = await Promise.all(Array.from({ length: 2 * POOL }, async (_, i) => repos[i % 2]!.accept(otp(0, 0, { publicId }))))
      expect(results.filter((r) => r.accepted)).toHaveLength(1)
    }
  })

  test('out-of-order races of use n and n+1: the stored counters always end at n+1', async () => {
    const publicId = 'ccccccccllll'
    for (let n = 0; n < 100; n += 2) {
      // Several copies of each, interleaved, from both pools.
      const reqs = Array.from({ length: 10 }, (_, i) => otp(7, n + (i % 2), { publicId }))
      const results = await Promise.all(reqs.map(async (r, i) => repos[i % 2]!.accept(r)))
      // n+1 always wins once; n wins at most once (only if it ran before n+1).
      expect(results.filter((r, i) => r.accepted && i % 2 === 1)).toHaveLength(1)
      expect(results.filter((r, i) => r.accepted && i % 2 === 0).length).toBeLessThanOrEqual(1)
      const row = await repos[0]!.getYubikey(publicId)
      expect([row?.counter, row?.use]).toEqual([7, n + 1])
    }
  })

  test('accept and getYubikey use named prepared statements on PostgreSQL', async () => {
    const single = await openDatabase(t.config({ dbPoolSize: 1 }))
    try {
      const r = new YubikeysRepository(single)
      await r.accept(otp(1000, 0))
      await r.getYubikey(PUB)
      // Same pool of one: the same session that prepared them.
      const { rows } = await single.query<{ name: string }>('SELECT name FROM pg_prepared_statements ORDER BY name')
      expect(rows.map((x) => x.name)).toEqual(['yubival_accept_otp', 'yubival_get_yubikey'])
    } finally {
      await single.close()
    }
  })
})
