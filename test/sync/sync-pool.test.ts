// Two nodes with separate databases joined as a sync pool, in one process: each node is the real verify
// service, accept-and-queue store, sync pool, worker and responder; the "network" between them is a
// PeerClient that hands the request URL to the other node's responder (or fails, or never answers).
import path from 'node:path'
import { afterAll, beforeAll, beforeEach, describe, expect, test } from 'vitest'
import { createStores } from '../../src/db/stores.js'
import { SyncingYubikeysRepository, SyncQueueRepository } from '../../src/db/sync-queue-repository.js'
import { YubikeysRepository } from '../../src/db/yubikeys-repository.js'
import { openFileKsm } from '../../src/ksm/open-file-ksm.js'
import type { PeerClient } from '../../src/sync/peer-client.js'
import { createSyncResponder } from '../../src/sync/responder.js'
import { createSyncPool, type SyncObserver } from '../../src/sync/sync-pool.js'
import { createSyncWorker, type SyncWorker } from '../../src/sync/sync-worker.js'
import { createVerifyService, type VerifyService } from '../../src/val/verify-service.js'
import { protocolVersion } from '../../src/wsapi/params.js'
import { parseQueryString, selectRequestParams } from '../../src/wsapi/query-parse.js'
import { createTestDatabase, testBackends, type TestDatabase } from '../helpers/database.js'
import { FIXTURES } from '../val/fakes.js'
import { expectSignedWith, KEY, OTP1, OTP2, OTP3, SECRET } from '../val/helpers.js'

const PUB = 'ccftftftcccc'
const URL_A = 'http://node-a.test/wsapi/2.0/sync'
const URL_B = 'http://node-b.test/wsapi/2.0/sync'
const silentLog = { info: () => {}, warn: () => {} }

type Link = 'up' | 'down' | 'silent'

interface Node {
  t: TestDatabase
  service: VerifyService
  worker: SyncWorker
  queue: SyncQueueRepository
  keys: YubikeysRepository
  respond: ReturnType<typeof createSyncResponder>
  /** What this node's outgoing requests meet. */
  link: Link
  /** Timeouts (ms) the pool asked the client for. */
  timeouts: number[]
  events: Array<[string, string]>
}

const { ksm } = openFileKsm({
  keyfile: path.join(FIXTURES, 'keys.json'), allowInsecureKeyfile: true, aeadDir: path.join(FIXTURES, 'aeads'), keyHandles: ['1'], aeadCacheSize: 10, warn: () => {}
})

describe.each(testBackends())('a sync pool of two nodes on %s', (backend) => {
  const nodes: Record<'a' | 'b', Node> = {} as Record<'a' | 'b', Node>
  let nonce = 0

  async function makeNode (self: 'a' | 'b'): Promise<Node> {
    const other = self === 'a' ? 'b' : 'a'
    const t = await createTestDatabase({ backend })
    await t.db.query('INSERT INTO clients (id, active, created, secret) VALUES (1, TRUE, 0, $1)', [SECRET])
    const queue = new SyncQueueRepository(t.db)
    const node = { t, queue, keys: new YubikeysRepository(t.db), link: 'up', timeouts: [], events: [] } as unknown as Node
    const client: PeerClient = async (url, timeoutMs) => {
      node.timeouts.push(timeoutMs)
      if (node.link === 'down') return { kind: 'failed', detail: 'ECONNREFUSED' }
      if (node.link === 'silent') {
        await new Promise((resolve) => setTimeout(resolve, timeoutMs))
        return { kind: 'failed', detail: `no answer within ${timeoutMs} ms` }
      }
      const query = url.slice(url.indexOf('?') + 1)
      const answer = await nodes[other].respond('127.0.0.1', query, parseQueryString(query))
      return { kind: 'body', body: answer.body }
    }
    const observer: SyncObserver = {
      request: (peer, result) => node.events.push([peer, result]),
      dropped: (peer, n) => node.events.push([peer, `dropped ${n}`]),
      queue: () => {}
    }
    const peers = [self === 'a' ? URL_B : URL_A]
    const pool = createSyncPool({ peers, key: null, client, queue, log: silentLog, observer })
    node.worker = createSyncWorker({ pool, queue, log: silentLog, observer, intervalMs: 50, requestTimeoutMs: 200, parallel: 2, queueLimit: 1000 })
    const yubikeys = new SyncingYubikeysRepository(t.db, {
      peers, serverNonce: () => (++nonce).toString(16).padStart(32, '0'), nowMs: Date.now, holdMs: 2000
    })
    node.service = createVerifyService({
      ksm, clients: createStores(t.db, { clientCacheMs: 0 }).clients, yubikeys,
      sync: { pool, defaultTimeoutMs: 300, maxTimeoutMs: 600 }
    })
    node.respond = createSyncResponder({ store: queue, allowedIps: ['127.0.0.1'], key: null, unsignedIps: [] })
    return node
  }

  const verify = async (node: Node, otp: string, extra = '', nonceValue = 'kakakakakakakakakakakaka', route = '/wsapi/2.0/verify') => {
    const q = `id=1&otp=${otp}&nonce=${nonceValue}${extra}`
    const out = await node.service.verify({ protocol: protocolVersion(`${route}?${q}`), params: selectRequestParams(q) })
    return { ...out, parsed: expectSignedWith(out.body, KEY) }
  }
  const row = async (node: Node) => node.keys.getYubikey(PUB)
  const queued = async (node: Node) => (await node.queue.stats()).reduce((n, s) => n + s.rows, 0)

  beforeAll(async () => {
    nodes.a = await makeNode('a')
    nodes.b = await makeNode('b')
  })
  afterAll(async () => {
    await nodes.a?.t.drop()
    await nodes.b?.t.drop()
  })
  beforeEach(async () => {
    for (const n of [nodes.a, nodes.b]) {
      await n.t.db.query('DELETE FROM yubikeys')
      await n.t.db.query('DELETE FROM sync_queue')
      n.link = 'up'
      n.timeouts = []
      n.events = []
    }
  })

  test('an OTP accepted on A is known to B before A answers OK: B refuses it and older ones', async () => {
    const ok = await verify(nodes.a, OTP2)
    expect([ok.status, ok.reason]).toEqual(['OK', 'ok'])
    expect(ok.parsed.extras).toEqual([['otp', OTP2], ['nonce', 'kakakakakakakakakakakaka'], ['sl', '100']])
    expect(await row(nodes.b)).toMatchObject({ counter: 1, use: 1, nonce: 'kakakakakakakakakakakaka', active: true })
    // answered: nothing left in A's queue (the answer arrives before OK, the delete right after)
    await new Promise((resolve) => setTimeout(resolve, 50))
    expect(await queued(nodes.a)).toBe(0)
    expect((await verify(nodes.b, OTP2, '', 'bbbbbbbbbbbbbbbbbbbbbbbb')).reason).toBe('replayed_otp')
    expect((await verify(nodes.b, OTP1)).reason).toBe('replayed_otp')
    expect(nodes.a.events).toEqual([['http://node-a.test'.replace('a.test', 'b.test'), 'ok']])
  })

  test('peer down: NOT_ENOUGH_ANSWERS with otp, nonce, sl=0; the OTP is used up here; the worker delivers later', async () => {
    nodes.a.link = 'down'
    const r = await verify(nodes.a, OTP2, '&sl=100')
    expect([r.status, r.reason]).toEqual(['NOT_ENOUGH_ANSWERS', 'not_enough_answers'])
    expect(r.parsed.extras).toEqual([['otp', OTP2], ['nonce', 'kakakakakakakakakakakaka'], ['sl', '0']])
    expect((await verify(nodes.a, OTP2, '&sl=100')).reason).toBe('replayed_request')
    expect(await row(nodes.b)).toBeNull()
    // handed to the worker at once (due now), and it keeps it while the peer is down
    expect(await queued(nodes.a)).toBe(1)
    await nodes.a.worker.runOnce()
    // one failed attempt by the verify, one by the worker
    expect((await nodes.a.queue.claimDue([URL_B], Date.now() + 10_000, Date.now() + 20_000, 10))[0]).toMatchObject({ attempts: 2 })
    await nodes.a.t.db.query('UPDATE sync_queue SET next_attempt_at = 0')
    nodes.a.link = 'up'
    await nodes.a.worker.runOnce()
    expect(await queued(nodes.a)).toBe(0)
    expect(await row(nodes.b)).toMatchObject({ counter: 1, use: 1 })
    expect((await verify(nodes.b, OTP2, '', 'cccccccccccccccccccccccc')).reason).toBe('replayed_otp')
  })

  test('protocol 1.0: NOT_ENOUGH_ANSWERS carries sl only; OK carries no sl', async () => {
    nodes.a.link = 'down'
    const r = await verify(nodes.a, OTP1, '', 'kakakakakakakakakakakaka', '/wsapi/verify')
    expect([r.status, r.parsed.extras]).toEqual(['NOT_ENOUGH_ANSWERS', [['sl', '0']]])
    nodes.a.link = 'up'
    const ok = await verify(nodes.a, OTP2, '', 'kakakakakakakakakakakaka', '/wsapi/verify')
    expect([ok.status, ok.parsed.extras]).toEqual(['OK', []])
  })

  test('an OTP first used on B (which could not reach A) is REPLAYED_OTP on A, not OK', async () => {
    nodes.b.link = 'down'
    expect((await verify(nodes.b, OTP2, '', 'nonceusedonbbbbbbbbbbbbb')).status).toBe('NOT_ENOUGH_ANSWERS')
    // A has never seen it and accepts it locally, but B's answer shows the same OTP with another nonce
    const r = await verify(nodes.a, OTP2)
    expect([r.status, r.reason]).toEqual(['REPLAYED_OTP', 'replayed_on_peer'])
    expect(r.parsed.extras).toEqual([['otp', OTP2], ['nonce', 'kakakakakakakakakakakaka']])
    // and an older OTP B never saw, after B saw a later one: A raises its counters from B's answer
    await nodes.a.t.db.query('DELETE FROM yubikeys')
    const older = await verify(nodes.a, OTP1)
    expect(older.reason).toBe('replayed_on_peer')
    expect(await row(nodes.a)).toMatchObject({ counter: 1, use: 1, nonce: 'nonceusedonbbbbbbbbbbbbb' })
  })

  test('a key disabled on the peer is refused here (BAD_OTP) and disabled here too', async () => {
    await verify(nodes.a, OTP1)
    await nodes.b.t.db.query('UPDATE yubikeys SET active = FALSE')
    const r = await verify(nodes.a, OTP2)
    expect([r.status, r.reason]).toEqual(['BAD_OTP', 'key_disabled_on_peer'])
    expect(r.parsed.extras).toEqual([])
    expect(await row(nodes.a)).toMatchObject({ active: false })
    expect((await verify(nodes.a, OTP3)).reason).toBe('key_disabled')
  })

  test('a disable is carried as a state message; an explicit enable too, a resync never re-enables', async () => {
    await verify(nodes.a, OTP1)
    await nodes.a.t.db.query('UPDATE yubikeys SET active = FALSE')
    expect(await nodes.a.queue.queueState([URL_B], [PUB], Date.now())).toBe(1)
    await nodes.a.worker.runOnce()
    expect(await row(nodes.b)).toMatchObject({ active: false })
    // the peer answered BAD_OTP to a state message: done, nothing more to do
    expect(await queued(nodes.a)).toBe(0)
    await nodes.a.t.db.query('UPDATE yubikeys SET active = TRUE')
    await nodes.a.queue.queueState([URL_B], 'all', Date.now())
    await nodes.a.worker.runOnce()
    expect(await row(nodes.b)).toMatchObject({ active: false })
    await nodes.a.queue.queueState([URL_B], [PUB], Date.now(), 'explicit')
    await nodes.a.worker.runOnce()
    expect(await row(nodes.b)).toMatchObject({ active: true })
    expect((await verify(nodes.b, OTP2)).status).toBe('OK')
  })

  test('sl above 100 can never be met: NOT_ENOUGH_ANSWERS although the peer confirmed', async () => {
    const r = await verify(nodes.a, OTP1, '&sl=101')
    expect([r.status, r.parsed.extras.at(-1)]).toEqual(['NOT_ENOUGH_ANSWERS', ['sl', '100']])
    expect(await row(nodes.b)).toMatchObject({ counter: 1, use: 0 })
  })

  test('timeout: the request\'s seconds, capped; 0 (no limit in yubikey-val) means the cap; absent means the default', async () => {
    nodes.a.link = 'silent'
    const r = await verify(nodes.a, OTP1, '&timeout=0')
    expect(r.reason).toBe('not_enough_answers')
    await verify(nodes.a, OTP2, '')
    await verify(nodes.a, OTP3, '&timeout=5')
    expect(nodes.a.timeouts).toEqual([600, 300, 600])
  })

  test('sl=fast and secure with one peer need one answer', async () => {
    expect((await verify(nodes.a, OTP1, '&sl=fast')).parsed.extras.at(-1)).toEqual(['sl', '100'])
    expect((await verify(nodes.a, OTP2, '&sl=SECURE')).status).toBe('OK')
  })
})
