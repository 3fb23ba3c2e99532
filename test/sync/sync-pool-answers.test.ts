// How the sending side judges answers, with an in-memory queue store: a local database error never
// turns a peer's refusal into OK, and with a sync key only answers signed with it count.
import { describe, expect, test } from 'vitest'
import type { AppliedSync, QueuedRef } from '../../src/db/sync-queue-repository.js'
import { createPeerClient, type PeerClient } from '../../src/sync/peer-client.js'
import type { PeerState, SyncMessage } from '../../src/sync/protocol.js'
import { createSyncPool, type SyncQueueStore } from '../../src/sync/sync-pool.js'
import { buildResponse } from '../../src/wsapi/response.js'

const PUB = 'ccftftftcccc'
const MSG: SyncMessage = { otp: PUB + 'c'.repeat(32), modified: 1, publicId: PUB, counter: 5, use: 3, high: 0, low: 0, nonce: 'mynonce000000000' }
const KEY = Buffer.from('0123456789abcdef0123')
const log = { info: () => {}, warn: () => {} }

function store (opts: { failWrites?: boolean } = {}): SyncQueueStore & { disabled: string[], retried: string[] } {
  const fail = async (): Promise<never> => { throw new Error('canceling statement due to statement timeout') }
  const disabled: string[] = []
  const retried: string[] = []
  return {
    disabled,
    retried,
    raiseCounters: async (_s: PeerState) => opts.failWrites === true ? fail() : false,
    disableKey: async (id: string) => { if (opts.failWrites === true) return fail(); disabled.push(id); return true },
    done: async () => { if (opts.failWrites === true) await fail() },
    retryLater: async (ref: QueuedRef) => { retried.push(ref.server) },
    applyIncoming: async (): Promise<AppliedSync> => fail()
  }
}

/** An answer as a peer's responder builds it, with its state before our request. */
function answer (state: Partial<PeerState> & { status?: 'OK' | 'BAD_OTP' }, key: Uint8Array = Buffer.alloc(0)): string {
  const s = { modified: 1, nonce: MSG.nonce, counter: 1, use: 0, high: 0, low: 0, ...state }
  const extras: Array<[string, string]> = state.status === 'BAD_OTP'
    ? []
    : [['modified', String(s.modified)], ['nonce', s.nonce], ['yk_publicname', PUB], ['yk_counter', String(s.counter)],
        ['yk_use', String(s.use)], ['yk_high', String(s.high)], ['yk_low', String(s.low)]]
  return buildResponse({ status: state.status ?? 'OK', extras }, key, new Date())
}

const peers = ['http://a/wsapi/2.0/sync', 'http://b/wsapi/2.0/sync', 'http://c/wsapi/2.0/sync']
const refs = peers.map((server, i) => ({ id: String(i), server, serverNonce: `n${i}` }))
const client = (bodies: Record<string, string>): PeerClient => async (url) => ({ kind: 'body', body: bodies[url.slice(0, url.indexOf('?'))]! })

describe('the answers of a verify\'s sync round', () => {
  test('a replay reported by a peer stays a replay when recording the answer locally fails', async () => {
    const bodies = { [peers[0]!]: answer({ counter: 5, use: 3, nonce: 'othernonce000000' }), [peers[1]!]: answer({}), [peers[2]!]: answer({}) }
    for (const failWrites of [false, true]) {
      const pool = createSyncPool({ peers, key: null, client: client(bodies), queue: store({ failWrites }), log })
      const r = await pool.confirm(refs, MSG, 60, 1000)
      expect(r.answers).toBeGreaterThan(r.valid)
    }
  })

  test('a peer\'s BAD_OTP is decisive even when the local disable fails', async () => {
    const bodies = { [peers[0]!]: answer({ status: 'BAD_OTP' }), [peers[1]!]: answer({}), [peers[2]!]: answer({}) }
    const pool = createSyncPool({ peers, key: null, client: client(bodies), queue: store({ failWrites: true }), log })
    expect((await pool.confirm(refs, MSG, 100, 1000)).keyDisabled).toBe(true)
  })

  test('with a sync key, only answers signed with it count, except from YUBIVAL_SYNC_UNSIGNED_PEERS', async () => {
    const bodies = { [peers[0]!]: answer({}, KEY), [peers[1]!]: answer({}), [peers[2]!]: answer({}, Buffer.from('another key')) }
    const q = store()
    const pool = createSyncPool({ peers, key: KEY, client: client(bodies), queue: q, log })
    expect(await pool.confirm(refs, MSG, 100, 1000)).toEqual({ required: 3, answers: 1, valid: 1, keyDisabled: false })
    // the two unsigned ones go to the worker
    expect(q.retried.sort()).toEqual([peers[1], peers[2]])
    const legacy = createSyncPool({ peers, key: KEY, unsignedPeers: [peers[1]!], client: client(bodies), queue: store(), log })
    expect(await legacy.confirm(refs, MSG, 100, 1000)).toMatchObject({ answers: 2, valid: 2 })
    // a forged BAD_OTP does not disable anything
    const forged = createSyncPool({ peers, key: KEY, client: client({ ...bodies, [peers[0]!]: answer({ status: 'BAD_OTP' }) }), queue: q, log })
    expect((await forged.confirm(refs, MSG, 100, 1000)).keyDisabled).toBe(false)
    expect(q.disabled).toEqual([])
  })

  test('an answer with an empty nonce (a reset or imported row) is an answer, and not this OTP\'s', async () => {
    const bodies = { [peers[0]!]: answer({ counter: 5, use: 3, nonce: '' }), [peers[1]!]: answer({ counter: -1, use: -1, nonce: '' }), [peers[2]!]: answer({}) }
    const pool = createSyncPool({ peers, key: null, client: client(bodies), queue: store(), log })
    expect(await pool.confirm(refs, MSG, 100, 1000)).toEqual({ required: 3, answers: 3, valid: 2, keyDisabled: false })
  })
})

describe('peer client', () => {
  test('a slow peer gets at most maxInFlight requests; the rest fail at once; slots free up', async () => {
    const pending: Array<() => void> = []
    const slowFetch = (async () => new Promise<Response>((resolve) => { pending.push(() => resolve(new Response('status=OK'))) })) as unknown as typeof fetch
    const ask = createPeerClient({ fetch: slowFetch, maxInFlight: 2 })
    const a = ask('http://slow/s?x', 5000)
    const b = ask('http://slow/s?y', 5000)
    expect(await ask('http://slow/s?z', 5000)).toEqual({ kind: 'failed', detail: '2 requests already in flight to this peer' })
    // another peer is not affected
    const other = ask('http://other/s', 5000)
    for (const release of pending) release()
    expect(await Promise.all([a, b, other])).toEqual(Array(3).fill({ kind: 'body', body: 'status=OK' }))
    const again = ask('http://slow/s?w', 5000)
    pending.at(-1)!()
    expect(await again).toEqual({ kind: 'body', body: 'status=OK' })
  })

  test('a caller\'s abort and the deadline end a request; HTTP errors are failures', async () => {
    const hang = (async (_u: string, init: RequestInit) => new Promise<Response>((_resolve, reject) => {
      init.signal?.addEventListener('abort', () => reject(new Error('aborted')))
    })) as unknown as typeof fetch
    const ask = createPeerClient({ fetch: hang })
    expect(await ask('http://p/s', 20)).toEqual({ kind: 'failed', detail: 'no answer within 20 ms' })
    const controller = new AbortController()
    const pending = ask('http://p/s', 5000, controller.signal)
    controller.abort()
    expect(await pending).toEqual({ kind: 'failed', detail: 'cancelled' })
    const err500 = createPeerClient({ fetch: (async () => new Response('oops', { status: 500 })) as unknown as typeof fetch })
    expect(await err500('http://p/s', 100)).toEqual({ kind: 'failed', detail: 'HTTP 500' })
  })
})
