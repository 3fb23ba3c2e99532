// GET /wsapi/2.0/sync through the Fastify app (app.inject): sync.php's check order (reference §4.3),
// the IP allow-list, the optional request signature between yubival nodes, the answer layout and its
// signing key, and what the request does to the local row. Real database (PGlite / PostgreSQL).
import { Writable } from 'node:stream'
import type { FastifyInstance } from 'fastify'
import { afterAll, beforeAll, beforeEach, describe, expect, test } from 'vitest'
import { SyncQueueRepository } from '../../src/db/sync-queue-repository.js'
import { YubikeysRepository } from '../../src/db/yubikeys-repository.js'
import { buildApp } from '../../src/server/app.js'
import { createLogger } from '../../src/server/logger.js'
import { createSyncResponder } from '../../src/sync/responder.js'
import { createResync } from '../../src/sync/resync.js'
import type { VerifyService } from '../../src/val/verify-service.js'
import { createTestDatabase, testBackends, type TestDatabase } from '../helpers/database.js'
import { EMPTY, expectSignedWith, hmac, signString } from '../val/helpers.js'

const noVerify = { verify: async () => { throw new Error('not used') } } as unknown as VerifyService
const SYNC_KEY = Buffer.from('c3luYyBrZXkgZm9yIHRlc3RzIG9ubHkhISE=', 'base64')
const PUB = 'ccftftftcccc'
const OTP = PUB + 'dhtrutjduvtcjbfeuvhehdvjjlbchtle'
const PAIRS: Array<[string, string]> = [
  ['otp', OTP], ['modified', '1700000000'], ['yk_publicname', PUB], ['yk_counter', '5'], ['yk_use', '3'],
  ['yk_high', '21'], ['yk_low', '36160'], ['nonce', 'kakakakakakakakakakakaka']
]
const PEERS = ['http://10.0.0.2/wsapi/2.0/sync', 'http://10.0.0.3/wsapi/2.0/sync']
const query = (pairs: Array<[string, string]>): string => pairs.map(([k, v]) => `${k}=${encodeURIComponent(v)}`).join('&')
/** Signed as a yubival node signs: the parameters plus ts (ms), then h over all of them. */
const signed = (pairs: Array<[string, string]>, key: Uint8Array, ts = Date.now()): string => {
  const all: Array<[string, string]> = [...pairs, ['ts', String(ts)]]
  return `${query(all)}&h=${encodeURIComponent(hmac(signString(all), key))}`
}

describe.each(testBackends())('/wsapi/2.0/sync on %s', (backend) => {
  let t: TestDatabase
  let keys: YubikeysRepository
  let log = ''
  const apps: FastifyInstance[] = []

  async function app (opts: { allowed?: string[], key?: Buffer | null, unsigned?: string[] } = {}): Promise<FastifyInstance> {
    const sink = new Writable({ write (chunk, _enc, cb) { log += String(chunk); cb() } })
    const syncResponder = createSyncResponder({
      store: new SyncQueueRepository(t.db), allowedIps: opts.allowed ?? ['127.0.0.1'], key: opts.key ?? null, unsignedIps: opts.unsigned ?? []
    })
    const queue = new SyncQueueRepository(t.db)
    const resync = createResync({
      store: { keyExists: async (id) => (await keys.getYubikey(id)) !== null, queueState: async (...a) => queue.queueState(...a) },
      peers: PEERS,
      allowedIps: opts.allowed ?? ['127.0.0.1']
    })
    const a = buildApp({ verifyService: noVerify, logger: createLogger('info', sink), readiness: async () => ({ ready: true, checks: {} }), syncResponder, resync })
    await a.ready()
    apps.push(a)
    return a
  }
  const get = async (a: FastifyInstance, q: string, ip = '127.0.0.1') => {
    const res = await a.inject({ method: 'GET', url: `/wsapi/2.0/sync${q === '' ? '' : '?'}${q}`, remoteAddress: ip })
    expect(res.statusCode).toBe(200)
    expect(res.headers['content-type']).toBe('text/plain; charset=utf-8')
    return res.body
  }

  beforeAll(async () => {
    t = await createTestDatabase({ backend })
    keys = new YubikeysRepository(t.db)
  })
  afterAll(async () => {
    await Promise.all(apps.map(async (a) => a.close()))
    await t.drop()
  })
  beforeEach(async () => {
    await t.db.query('DELETE FROM yubikeys')
    await t.db.query('DELETE FROM sync_queue')
  })

  test('check order: empty query, then the IP, then the parameters (all answers signed with the empty key)', async () => {
    const a = await app()
    expect(expectSignedWith(await get(a, ''), EMPTY).status).toBe('MISSING_PARAMETER')
    expect(expectSignedWith(await get(a, query(PAIRS), '10.9.9.9'), EMPTY).status).toBe('OPERATION_NOT_ALLOWED')
    expect(expectSignedWith(await get(a, 'otp=x', '10.9.9.9'), EMPTY).status).toBe('OPERATION_NOT_ALLOWED')
    expect(expectSignedWith(await get(a, query(PAIRS.slice(1))), EMPTY).status).toBe('MISSING_PARAMETER')
    expect(expectSignedWith(await get(a, query(PAIRS), '::ffff:127.0.0.1'), EMPTY).status).toBe('OK')
    expect(log).not.toContain(OTP)
  })

  test('an unknown key is auto-inserted; OK answers the values before the update; the counters are applied', async () => {
    const a = await app()
    const first = expectSignedWith(await get(a, query(PAIRS)), EMPTY)
    expect(first.status).toBe('OK')
    expect(first.extras).toEqual([
      ['modified', '-1'], ['nonce', '0000000000000000'], ['yk_publicname', PUB],
      ['yk_counter', '-1'], ['yk_use', '-1'], ['yk_high', '-1'], ['yk_low', '-1']
    ])
    expect(await keys.getYubikey(PUB)).toMatchObject({ counter: 5, use: 3, high: 21, low: 36160, modified: 1700000000, nonce: 'kakakakakakakakakakakaka' })
    // the same request again (a queue re-send): unchanged, and the answer shows the stored values
    const again = expectSignedWith(await get(a, query(PAIRS)), EMPTY)
    expect(again.extras).toEqual([
      ['modified', '1700000000'], ['nonce', 'kakakakakakakakakakakaka'], ['yk_publicname', PUB],
      ['yk_counter', '5'], ['yk_use', '3'], ['yk_high', '21'], ['yk_low', '36160']
    ])
  })

  test('a disabled key still takes the counters, then answers BAD_OTP', async () => {
    const a = await app()
    await get(a, query(PAIRS))
    await t.db.query('UPDATE yubikeys SET active = FALSE')
    const higher = PAIRS.map(([k, v]) => [k, k === 'yk_use' ? '9' : v] as [string, string])
    expect(expectSignedWith(await get(a, query(higher)), EMPTY).status).toBe('BAD_OTP')
    expect(await keys.getYubikey(PUB)).toMatchObject({ use: 9, active: false })
  })

  test('with a sync key: signed requests are checked and answered with that key; unsigned ones only from YUBIVAL_SYNC_UNSIGNED_IPS', async () => {
    const a = await app({ allowed: ['127.0.0.1', '10.0.0.5'], key: SYNC_KEY, unsigned: ['10.0.0.5'] })
    const ok = expectSignedWith(await get(a, signed(PAIRS, SYNC_KEY)), SYNC_KEY)
    expect(ok.status).toBe('OK')
    expect(expectSignedWith(await get(a, signed(PAIRS, Buffer.from('another key of twenty'))), EMPTY).status).toBe('BAD_SIGNATURE')
    // a tampered value breaks the signature
    const tampered = signed(PAIRS, SYNC_KEY).replace('yk_counter=5', 'yk_counter=6')
    expect(expectSignedWith(await get(a, tampered), EMPTY).status).toBe('BAD_SIGNATURE')
    expect(expectSignedWith(await get(a, query(PAIRS)), EMPTY).status).toBe('OPERATION_NOT_ALLOWED')
    expect(expectSignedWith(await get(a, query(PAIRS), '10.0.0.5'), EMPTY).status).toBe('OK')
    // the allow-list still comes first
    expect(expectSignedWith(await get(a, signed(PAIRS, SYNC_KEY), '10.0.0.6'), EMPTY).status).toBe('OPERATION_NOT_ALLOWED')
    expect(await keys.getYubikey(PUB)).toMatchObject({ counter: 5, use: 3 })
    // a captured signed request cannot be replayed later; nor sent without ts
    expect(expectSignedWith(await get(a, signed(PAIRS, SYNC_KEY, Date.now() - 301_000)), EMPTY).status).toBe('OPERATION_NOT_ALLOWED')
    const noTs = `${query(PAIRS)}&h=${encodeURIComponent(hmac(signString(PAIRS), SYNC_KEY))}`
    expect(expectSignedWith(await get(a, noTs), EMPTY).status).toBe('OPERATION_NOT_ALLOWED')
    // with a key, an unsigned request (a yubikey-val node) cannot change the active flag
    expect(expectSignedWith(await get(a, query([...PAIRS, ['active', '0']]), '10.0.0.5'), EMPTY).status).toBe('OK')
    expect(await keys.getYubikey(PUB)).toMatchObject({ active: true })
    expect(expectSignedWith(await get(a, signed([...PAIRS, ['active', '0']], SYNC_KEY)), SYNC_KEY).status).toBe('BAD_OTP')
    expect(await keys.getYubikey(PUB)).toMatchObject({ active: false })
  })

  test('a carried active flag is applied (state messages)', async () => {
    const a = await app()
    expect(expectSignedWith(await get(a, query([...PAIRS, ['active', '0']])), EMPTY).status).toBe('BAD_OTP')
    expect(await keys.getYubikey(PUB)).toMatchObject({ active: false, counter: 5 })
    expect(expectSignedWith(await get(a, query([...PAIRS, ['active', '1']])), EMPTY).status).toBe('OK')
    expect(expectSignedWith(await get(a, query([...PAIRS, ['active', '2']])), EMPTY).status).toBe('MISSING_PARAMETER')
  })

  test('only GET; not registered without a responder', async () => {
    const a = await app()
    expect((await a.inject({ method: 'POST', url: '/wsapi/2.0/sync', payload: query(PAIRS), headers: { 'content-type': 'application/x-www-form-urlencoded' } })).statusCode).toBe(404)
    const plain = buildApp({ verifyService: noVerify, logger: createLogger('silent'), readiness: async () => ({ ready: true, checks: {} }) })
    apps.push(plain)
    expect((await plain.inject({ method: 'GET', url: `/wsapi/2.0/sync?${query(PAIRS)}` })).statusCode).toBe(404)
  })

  test('/wsapi/2.0/resync answers as resync.php and queues the local state for every peer', async () => {
    const a = await app()
    const resync = async (q: string, ip = '127.0.0.1', method: 'GET' | 'POST' = 'GET') => {
      const res = method === 'GET'
        ? await a.inject({ method, url: `/wsapi/2.0/resync?${q}`, remoteAddress: ip })
        : await a.inject({ method, url: '/wsapi/2.0/resync', payload: q, headers: { 'content-type': 'application/x-www-form-urlencoded' }, remoteAddress: ip })
      expect(res.statusCode).toBe(200)
      return res.body
    }
    expect(await resync('yk=all', '10.1.1.1')).toBe('ERROR Authorization failed (logged 10.1.1.1)\n')
    expect(await resync('x=1')).toBe('ERROR Missing parameter\n')
    expect(await resync('yk=abc')).toBe('ERROR Unknown yk value: abc\n')
    expect(await resync(`yk=${PUB}`)).toBe(`ERROR Unknown yubikey: ${PUB}\n`)
    await get(a, query(PAIRS))
    await keys.accept({ publicId: 'cccccccccccb', counter: 1, use: 0, low: 0, high: 0, nonce: 'x', now: 1 })
    expect(await resync(`yk=${PUB}`, '127.0.0.1', 'POST')).toBe(`OK Initiated resync of ${PUB}\n`)
    const rows = async () => (await t.db.query<{ server: string, yk_publicname: string, yk_counter: number, kind: string }>(
      'SELECT server, yk_publicname, yk_counter, kind FROM sync_queue ORDER BY yk_publicname, server')).rows
    expect(await rows()).toEqual(PEERS.map((server) => ({ server, yk_publicname: PUB, yk_counter: 5, kind: 'state' })))
    expect(await resync('yk=all')).toBe('OK Initiated resync of all\n')
    expect((await rows()).map((r) => r.yk_publicname)).toEqual(['cccccccccccb', 'cccccccccccb', PUB, PUB])
  })
})
