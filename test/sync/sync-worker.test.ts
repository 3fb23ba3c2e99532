// The background worker against a real queue table, with scripted peers: delivery, backoff, "stop
// sending to a peer that fails this pass", refusals, per-peer parallelism, the queue limit.
import { afterAll, beforeAll, beforeEach, describe, expect, test } from 'vitest'
import { SyncQueueRepository } from '../../src/db/sync-queue-repository.js'
import { YubikeysRepository } from '../../src/db/yubikeys-repository.js'
import type { PeerClient, PeerReply } from '../../src/sync/peer-client.js'
import { createSyncPool } from '../../src/sync/sync-pool.js'
import { backoffMs, createSyncWorker, MAX_BACKOFF_MS } from '../../src/sync/sync-worker.js'
import { createTestDatabase, testBackends, type TestDatabase } from '../helpers/database.js'

const X = 'http://x.test/wsapi/2.0/sync'
const Y = 'http://y.test/wsapi/2.0/sync'
const IDS = ['cccccccccccb', 'cccccccccccd', 'ccccccccccce', 'cccccccccccf', 'cccccccccccg']
const okBody = (url: string): string => {
  const q = new URL(url).searchParams
  return `h=x\r\nt=t\r\nmodified=1\r\nnonce=0000000000000000\r\nyk_publicname=${q.get('yk_publicname')}\r\n` +
    'yk_counter=-1\r\nyk_use=-1\r\nyk_high=-1\r\nyk_low=-1\r\nstatus=OK\r\n\r\n'
}
const log = { info: () => {}, warn: () => {} }

test('backoff doubles from the interval and stops at five minutes', () => {
  expect([0, 1, 2, 3].map((n) => backoffMs(1000, n))).toEqual([1000, 2000, 4000, 8000])
  expect(backoffMs(1000, 9)).toBe(MAX_BACKOFF_MS)
  expect(backoffMs(1000, 10_000)).toBe(MAX_BACKOFF_MS)
})

describe.each(testBackends())('sync worker on %s', (backend) => {
  let t: TestDatabase
  let queue: SyncQueueRepository
  const NOW = 1_800_000_000_000
  beforeAll(async () => { t = await createTestDatabase({ backend }) })
  afterAll(async () => { await t.drop() })
  beforeEach(async () => {
    await t.db.query('DELETE FROM yubikeys')
    await t.db.query('DELETE FROM sync_queue')
    queue = new SyncQueueRepository(t.db)
    const keys = new YubikeysRepository(t.db)
    for (const [i, publicId] of IDS.entries()) {
      await keys.accept({ publicId, counter: 1, use: i, low: 0, high: 0, nonce: 'nonce0123456789a', now: 1_700_000_000 })
    }
  })

  function worker (reply: (url: string) => PeerReply | Promise<PeerReply>, extra: { parallel?: number, queueLimit?: number, batch?: number } = {}) {
    const seen: string[] = []
    let inFlight = 0
    let maxInFlight = 0
    const dropped: Array<[string, number]> = []
    const client: PeerClient = async (url) => {
      seen.push(url)
      maxInFlight = Math.max(maxInFlight, ++inFlight)
      await new Promise((resolve) => setTimeout(resolve, 5))
      try {
        return await reply(url)
      } finally {
        inFlight--
      }
    }
    const observer = { request: () => {}, dropped: (peer: string, n: number) => dropped.push([peer, n]), queue: () => {} }
    const pool = createSyncPool({ peers: [X, Y], key: null, client, queue, log, observer })
    const w = createSyncWorker({
      pool, queue, log, observer, intervalMs: 1000, requestTimeoutMs: 100, parallel: extra.parallel ?? 1, queueLimit: extra.queueLimit ?? 1000, nowMs: () => NOW,
      ...(extra.batch !== undefined ? { batch: extra.batch } : {})
    })
    return { w, seen, dropped, maxInFlight: () => maxInFlight }
  }
  const rows = async () => (await t.db.query<{ server: string, yk_publicname: string, attempts: number, next_attempt_at: string, last_error: string | null }>(
    'SELECT server, yk_publicname, attempts, next_attempt_at::text, last_error FROM sync_queue ORDER BY server, yk_publicname')).rows

  test('delivers every due message to its peer and removes it', async () => {
    await queue.queueState([X, Y], 'all', NOW)
    const { w, seen } = worker((url) => ({ kind: 'body', body: okBody(url) }))
    await w.runOnce()
    expect(seen).toHaveLength(10)
    expect(await rows()).toEqual([])
  })

  test('a peer that fails gets nothing more this pass; its messages wait (backoff), the other peer is served', async () => {
    await queue.queueState([X, Y], 'all', NOW)
    const { w, seen } = worker((url) => url.startsWith(X) ? { kind: 'failed', detail: 'ECONNREFUSED' } : { kind: 'body', body: okBody(url) })
    await w.runOnce()
    expect(seen.filter((u) => u.startsWith(X))).toHaveLength(1)
    const left = await rows()
    expect(left.every((r) => r.server === X)).toBe(true)
    expect(left).toHaveLength(5)
    const tried = left.filter((r) => r.attempts === 1)
    expect(tried).toHaveLength(1)
    expect(tried[0]).toMatchObject({ last_error: 'ECONNREFUSED', next_attempt_at: String(NOW + 2000) })
    // the others did not get an attempt: none counted, but they wait as long as the one that failed
    expect(left.filter((r) => r.attempts === 0).map((r) => [r.last_error, r.next_attempt_at]))
      .toEqual(Array(4).fill(['not sent: ECONNREFUSED', String(NOW + 2000)]))
    // nothing is due before its time
    await w.runOnce()
    expect(seen.filter((u) => u.startsWith(X))).toHaveLength(1)
  })

  test('a failing peer is not asked again in the same pass however many batches it has due; others are drained', async () => {
    await queue.queueState([X, Y], 'all', NOW)
    const { w, seen } = worker((url) => url.startsWith(X) ? { kind: 'failed', detail: 'ECONNREFUSED' } : { kind: 'body', body: okBody(url) }, { batch: 2 })
    await w.runOnce()
    expect(seen.filter((u) => u.startsWith(X))).toHaveLength(1)
    expect(seen.filter((u) => u.startsWith(Y))).toHaveLength(5)
    expect((await rows()).map((r) => r.server)).toEqual(Array(5).fill(X))
  })

  test('state messages go before OTP messages of the same peer', async () => {
    const keys = new YubikeysRepository(t.db)
    const { SyncingYubikeysRepository } = await import('../../src/db/sync-queue-repository.js')
    const syncing = new SyncingYubikeysRepository(t.db, { peers: [X], serverNonce: () => 'f'.repeat(32), nowMs: () => NOW - 10_000, holdMs: 0 })
    await syncing.accept({ publicId: IDS[0]!, counter: 2, use: 0, low: 0, high: 0, nonce: 'nonce0123456789a', now: 1_700_000_001, otp: IDS[0]! + 'c'.repeat(32) })
    await queue.queueState([X], [IDS[0]!], NOW, 'explicit')
    expect(await keys.getYubikey(IDS[0]!)).toMatchObject({ counter: 2 })
    const { w, seen } = worker((url) => ({ kind: 'body', body: okBody(url) }))
    await w.runOnce()
    expect(seen.map((u) => new URL(u).searchParams.has('active'))).toEqual([true, false])
  })

  test('a refusal (e.g. OPERATION_NOT_ALLOWED) concerns one message: it is retried later, the rest are sent', async () => {
    await queue.queueState([X], 'all', NOW)
    const { w, seen } = worker((url) => url.includes(IDS[0]!) ? { kind: 'body', body: 'h=x\r\nstatus=OPERATION_NOT_ALLOWED\r\n\r\n' } : { kind: 'body', body: okBody(url) })
    await w.runOnce()
    expect(seen).toHaveLength(5)
    expect(await rows()).toEqual([{ server: X, yk_publicname: IDS[0], attempts: 1, next_attempt_at: String(NOW + 2000), last_error: 'peer answered OPERATION_NOT_ALLOWED' }])
  })

  test('at most YUBIVAL_SYNC_PARALLEL requests in flight per peer', async () => {
    await queue.queueState([X, Y], 'all', NOW)
    const { w, maxInFlight } = worker((url) => ({ kind: 'body', body: okBody(url) }), { parallel: 2 })
    await w.runOnce()
    // two peers × two slots
    expect(maxInFlight()).toBe(4)
    expect(await rows()).toEqual([])
  })

  test('over the queue limit the oldest messages are dropped and counted', async () => {
    await queue.queueState([X], 'all', NOW)
    await queue.queueState([Y], [IDS[0]!], NOW)
    const { w, dropped } = worker(() => ({ kind: 'failed', detail: 'down' }), { queueLimit: 2 })
    await w.runOnce()
    expect(dropped).toEqual([['http://x.test', 4]])
    expect((await rows()).map((r) => r.server)).toEqual([X, Y])
  })

  test('stop() ends the schedule; a started worker runs without being asked', async () => {
    await queue.queueState([X], [IDS[0]!], NOW)
    const { w, seen } = worker((url) => ({ kind: 'body', body: okBody(url) }))
    w.start()
    for (let i = 0; i < 100 && seen.length === 0; i++) await new Promise((resolve) => setTimeout(resolve, 20))
    await w.stop()
    expect(seen).toHaveLength(1)
  })
})
