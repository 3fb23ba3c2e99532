import { afterAll, beforeAll, beforeEach, describe, expect, test } from 'vitest'
import { SyncingYubikeysRepository, SyncQueueRepository } from '../../src/db/sync-queue-repository.js'
import type { AcceptRequest } from '../../src/db/types.js'
import { YubikeysRepository } from '../../src/db/yubikeys-repository.js'
import { createTestDatabase, testBackends, type TestDatabase } from '../helpers/database.js'

const PUB = 'cccccccccccb'
const PEERS = ['http://10.0.0.2:8080/wsapi/2.0/sync', 'https://val3.example.com/wsapi/2.0/sync']
const OTP = PUB + 'c'.repeat(32)

function otp (counter: number, use: number, extra: Partial<AcceptRequest> = {}): AcceptRequest {
  return { publicId: PUB, counter, use, low: 0x1234, high: 0x56, nonce: 'nonce0123456789a', now: 1_700_000_000, otp: OTP, ...extra }
}

describe.each(testBackends())('sync queue on %s', (backend) => {
  let t: TestDatabase
  let queue: SyncQueueRepository
  let keys: YubikeysRepository
  let nonces: number
  let nowMs: number
  const syncing = (): SyncingYubikeysRepository => new SyncingYubikeysRepository(t.db, {
    peers: PEERS, serverNonce: () => `n${String(++nonces).padStart(31, '0')}`, nowMs: () => nowMs, holdMs: 5000
  })
  beforeAll(async () => { t = await createTestDatabase({ backend }) })
  afterAll(async () => { await t.drop() })
  beforeEach(async () => {
    await t.db.query('DELETE FROM yubikeys')
    await t.db.query('DELETE FROM sync_queue')
    queue = new SyncQueueRepository(t.db)
    keys = new YubikeysRepository(t.db)
    nonces = 0
    nowMs = 1_700_000_000_000
  })

  test('an accepted OTP is queued for every peer in the same statement, held for the verify', async () => {
    const r = await syncing().accept(otp(5, 3))
    expect(r.accepted).toBe(true)
    const queued = r.accepted ? r.queued ?? [] : []
    expect(queued.map((q) => q.server).sort()).toEqual([...PEERS].sort())
    expect(new Set(queued.map((q) => q.serverNonce)).size).toBe(2)
    // held: not due before the hold time
    expect(await queue.claimDue(PEERS, nowMs + 4999, nowMs + 60_000, 10)).toEqual([])
    const due = await queue.claimDue(PEERS, nowMs + 5000, nowMs + 60_000, 10)
    expect(due).toHaveLength(2)
    expect(due[0]).toMatchObject({
      kind: 'otp',
      attempts: 0,
      message: { otp: OTP, modified: 1_700_000_000, publicId: PUB, counter: 5, use: 3, high: 0x56, low: 0x1234, nonce: 'nonce0123456789a', active: null }
    })
    // leased: a second worker gets nothing until the lease ends
    expect(await queue.claimDue(PEERS, nowMs + 5000, nowMs + 60_000, 10)).toEqual([])
    expect(await queue.claimDue(PEERS, nowMs + 60_000, nowMs + 90_000, 10)).toHaveLength(2)
  })

  test('a refused OTP (replay, disabled key) queues nothing', async () => {
    await syncing().accept(otp(5, 3))
    await t.db.query('DELETE FROM sync_queue')
    expect((await syncing().accept(otp(5, 3))).accepted).toBe(false)
    expect((await syncing().accept(otp(4, 9))).accepted).toBe(false)
    await t.db.query('UPDATE yubikeys SET active = FALSE')
    expect((await syncing().accept(otp(9, 0))).accepted).toBe(false)
    expect((await queue.stats())).toEqual([])
  })

  test('a newer OTP replaces the queued message for the same peer and key; the old answer cannot delete it', async () => {
    const first = await syncing().accept(otp(5, 3))
    const second = await syncing().accept(otp(5, 4, { nonce: 'secondnonce00000' }))
    const firstRefs = first.accepted ? first.queued ?? [] : []
    const secondRefs = second.accepted ? second.queued ?? [] : []
    expect(secondRefs.map((r) => r.id).sort()).toEqual(firstRefs.map((r) => r.id).sort())
    for (const ref of firstRefs) await queue.done(ref)
    const rows = await queue.claimDue(PEERS, nowMs + 10_000, nowMs + 20_000, 10)
    expect(rows.map((r) => [r.message.use, r.message.nonce])).toEqual([[4, 'secondnonce00000'], [4, 'secondnonce00000']])
    for (const ref of secondRefs) await queue.done(ref)
    expect(await queue.stats()).toEqual([])
  })

  test('retryLater moves a message and counts attempts; stats report per peer', async () => {
    const r = await syncing().accept(otp(1, 0))
    const [a] = r.accepted ? r.queued ?? [] : []
    await queue.retryLater(a!, nowMs + 100, 'HTTP 500')
    await queue.retryLater(a!, nowMs + 200, 'not sent', false)
    const stats = await queue.stats()
    expect(stats).toHaveLength(2)
    expect(stats.find((s) => s.server === a!.server)).toEqual({ server: a!.server, rows: 1, oldestQueuedAt: nowMs, failing: 1 })
    const due = await queue.claimDue([a!.server], nowMs + 200, nowMs + 300, 10)
    expect(due).toHaveLength(1)
    expect(due[0]!.attempts).toBe(1)
    // only the peers asked for
    expect(await queue.claimDue(['http://elsewhere/wsapi/2.0/sync'], nowMs + 100_000, nowMs + 200_000, 10)).toEqual([])
  })

  test('peer counters are applied only when higher; disableKey; -1 answers change nothing', async () => {
    await keys.accept(otp(5, 3))
    const state = { modified: 1_700_000_100, publicId: PUB, counter: 5, use: 3, high: 1, low: 2, nonce: 'peernonce0000000' }
    expect(await queue.raiseCounters(state)).toBe(false)
    expect(await queue.raiseCounters({ ...state, counter: -1, use: -1 })).toBe(false)
    expect(await queue.raiseCounters({ ...state, use: 7 })).toBe(true)
    expect(await keys.getYubikey(PUB)).toMatchObject({ counter: 5, use: 7, modified: 1_700_000_100, nonce: 'peernonce0000000', active: true })
    expect(await queue.disableKey(PUB)).toBe(true)
    expect(await queue.disableKey(PUB)).toBe(false)
    expect(await keys.getYubikey(PUB)).toMatchObject({ active: false })
  })

  test('an incoming sync auto-inserts unknown keys, raises counters, returns the row before, applies active', async () => {
    const m = { otp: OTP, modified: 1_700_000_050, publicId: PUB, counter: 3, use: 1, high: 4, low: 5, nonce: 'remotenonce00000' }
    const first = await queue.applyIncoming(m, 1_700_000_060)
    expect(first.before).toMatchObject({ counter: -1, use: -1, modified: -1, nonce: '0000000000000000', active: true, created: 1_700_000_060 })
    expect(first.activeAfter).toBe(true)
    expect(await keys.getYubikey(PUB)).toMatchObject({ counter: 3, use: 1, high: 4, low: 5, modified: 1_700_000_050, nonce: 'remotenonce00000' })
    // lower: the row stays, the answer shows it
    const lower = await queue.applyIncoming({ ...m, counter: 2 }, 1_700_000_070)
    expect(lower.before).toMatchObject({ counter: 3, use: 1 })
    expect(await keys.getYubikey(PUB)).toMatchObject({ counter: 3, use: 1 })
    // a disabled key still takes counters (yubikey-val) and says it is disabled
    await queue.disableKey(PUB)
    const disabled = await queue.applyIncoming({ ...m, counter: 4 }, 1_700_000_080)
    expect(disabled.activeAfter).toBe(false)
    expect(await keys.getYubikey(PUB)).toMatchObject({ counter: 4, active: false })
    // carried flag
    expect((await queue.applyIncoming({ ...m, active: true }, 1_700_000_090)).activeAfter).toBe(true)
    expect((await queue.applyIncoming({ ...m, active: false }, 1_700_000_090)).activeAfter).toBe(false)
    expect(await keys.getYubikey(PUB)).toMatchObject({ active: false })
  })

  test('queueState queues counters and the active flag of chosen keys or all keys; trim drops the oldest', async () => {
    await keys.accept(otp(5, 3))
    await keys.accept(otp(1, 0, { publicId: 'cccccccccccd', nonce: 'x' }))
    await queue.disableKey('cccccccccccd')
    // keys enable/disable: the flag as it is here
    expect(await queue.queueState(PEERS, [PUB], nowMs, 'explicit')).toBe(2)
    // a resync carries only disables, and does not erase the explicit flag still queued
    expect(await queue.queueState(PEERS, 'all', nowMs)).toBe(4)
    const rows = await queue.claimDue(PEERS, nowMs, nowMs + 1000, 10)
    expect(rows).toHaveLength(4)
    const d = rows.find((r) => r.message.publicId === 'cccccccccccd')!
    expect(d).toMatchObject({ kind: 'state', message: { active: false, counter: 1, use: 0, otp: 'cccccccccccd' + 'c'.repeat(32) } })
    // an invalid stored nonce is replaced by a random one the peer accepts
    expect(d.message.nonce).toMatch(/^[0-9a-f]{32}$/)
    expect(rows.find((r) => r.message.publicId === PUB)!.message).toMatchObject({ active: true, nonce: 'nonce0123456789a' })
    const dropped = await queue.trim(1)
    expect([...dropped.values()].reduce((a, b) => a + b, 0)).toBe(3)
    expect((await queue.stats()).reduce((a, s) => a + s.rows, 0)).toBe(1)
    expect(await queue.trim(1)).toEqual(new Map())
    expect(await queue.purge({ keep: [] })).toBe(1)
    // a resync of an active key says nothing about the flag: it cannot re-enable a key revoked elsewhere
    await queue.queueState(PEERS, [PUB], nowMs)
    expect((await queue.claimDue(PEERS, nowMs, nowMs + 1000, 10)).map((r) => r.message.active)).toEqual([null, null])
  })

  test('trim drops the messages waiting longest first (a replaced one keeps its age), explicit enables/disables last', async () => {
    await keys.accept(otp(5, 3))
    await keys.accept(otp(1, 0, { publicId: 'cccccccccccd', nonce: 'x' }))
    await keys.accept(otp(1, 0, { publicId: 'ccccccccccce', nonce: 'x' }))
    await queue.queueState([PEERS[0]!], ['cccccccccccd'], nowMs, 'explicit')
    await queue.queueState([PEERS[0]!], [PUB], nowMs + 1)
    await queue.queueState([PEERS[0]!], ['ccccccccccce'], nowMs + 2)
    // replaced by a newer message: still waiting since nowMs + 1, so still older than ccccccccccce's
    await queue.queueState([PEERS[0]!], [PUB], nowMs + 3)
    expect((await queue.stats())[0]).toMatchObject({ rows: 3, oldestQueuedAt: nowMs })
    await queue.trim(2)
    expect((await queue.claimDue(PEERS, nowMs + 10, nowMs + 1000, 10)).map((r) => r.message.publicId).sort()).toEqual(['cccccccccccd', 'ccccccccccce'])
    await queue.trim(1)
    expect((await queue.stats())[0]).toMatchObject({ rows: 1 })
    expect((await t.db.query('SELECT yk_publicname FROM sync_queue')).rows).toEqual([{ yk_publicname: 'cccccccccccd' }])
  })

  test('a key is not disabled from a peer\'s answer while an enable for that peer is queued; purgeKey', async () => {
    await keys.accept(otp(5, 3))
    await queue.queueState([PEERS[0]!], [PUB], nowMs, 'explicit')
    expect(await queue.disableKey(PUB, PEERS[0]!)).toBe(false)
    expect(await queue.disableKey(PUB, PEERS[1]!)).toBe(true)
    expect(await queue.purgeKey(PUB)).toBe(1)
    expect(await queue.stats()).toEqual([])
  })
})
