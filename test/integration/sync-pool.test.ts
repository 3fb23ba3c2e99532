// A yubikey-val sync pool of two real `yubival serve` nodes, each with its own database (PostgreSQL when
// TEST_DATABASE_URL is set, else PGlite), the same keyfile, AEAD tree and client, each listing the other
// in YUBIVAL_SYNC_POOL (reference yubikey-val.md §3.6, §4). Replays are caught across the nodes, a verify
// while the peer is down is NOT_ENOUGH_ANSWERS and its message waits in sync_queue (across restarts)
// until the peer is back, the active flag travels, sync requests can be signed, and a request exactly as
// yubikey-val sends it gets sync.php's answer. Needs `npm run build` (the nodes run dist/).
import { randomBytes } from 'node:crypto'
import { cpSync } from 'node:fs'
import http from 'node:http'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { loadConfig } from '../../src/config.js'
import { openDatabase, type Database } from '../../src/db/database.js'
import { cliOk } from '../helpers/cli.js'
import { createTestDatabase } from '../helpers/database.js'
import { createInstallation, randomPublicId, type TestInstallation } from '../helpers/environment.js'
import { freePort, spawnServe, type ServeProcess } from '../helpers/serve-process.js'
import { parseResponse, randomNonce, responseSignatureOk, sign, verifyOtp } from '../helpers/wsapi-client.js'
import { yubiotpOtps } from '../helpers/yubiotp.js'

const SYNC_PATH = '/wsapi/2.0/sync'
const SL100 = { extra: { sl: '100' } }

interface Node {
  name: string
  port: number
  adminPort: number
  /** Installation environment: database, keyfile, AEAD directory. */
  env: Record<string, string>
  /** The other node's sync URL (this node's YUBIVAL_SYNC_POOL). */
  peerSyncUrl: string
  /** Settings of the current run on top of the pool settings (sync key…). */
  extra: Record<string, string>
  proc: ServeProcess | null
}

const url = (n: Node): string => `http://127.0.0.1:${n.port}`
const syncUrl = (n: Node): string => `${url(n)}${SYNC_PATH}`

function serveEnv (n: Node): Record<string, string> {
  return {
    ...n.env,
    YUBIVAL_PORT: String(n.port),
    YUBIVAL_ADMIN_PORT: String(n.adminPort),
    YUBIVAL_SYNC_POOL: n.peerSyncUrl,
    YUBIVAL_SYNC_ALLOWED_IPS: '127.0.0.1',
    YUBIVAL_SYNC_INTERVAL_MS: '200',
    // generous: a slow machine must not turn an answer into NOT_ENOUGH_ANSWERS (a down peer fails at once)
    YUBIVAL_SYNC_TIMEOUT_MS: '10000',
    YUBIVAL_SYNC_MAX_TIMEOUT_MS: '10000',
    YUBIVAL_REQUEST_TIMEOUT_MS: '20000',
    YUBIVAL_SYNC_REQUEST_TIMEOUT_MS: '5000',
    ...n.extra
  }
}

async function start (n: Node, extra: Record<string, string> = n.extra): Promise<void> {
  n.extra = extra
  n.proc = await spawnServe(serveEnv(n))
}

async function stop (n: Node): Promise<void> {
  await n.proc?.stop()
  n.proc = null
}

/** Opens the node's own database in this process (PGlite: only while the node is stopped). */
async function withDatabase<T> (n: Node, fn: (db: Database) => Promise<T>): Promise<T> {
  const db = await openDatabase(loadConfig({}, { dataDir: n.env.YUBIVAL_DATA_DIR!, databaseUrl: n.env.DATABASE_URL ?? null }))
  try {
    return await fn(db)
  } finally {
    await db.close()
  }
}

/** Runs `fn` against the node's database; the embedded PGlite admits one process, so the node pauses. */
async function offline<T> (n: Node, fn: () => Promise<T>): Promise<T> {
  if (n.env.DATABASE_URL !== undefined || n.proc === null) return fn()
  await stop(n)
  try {
    return await fn()
  } finally {
    await start(n)
  }
}

async function until<T> (what: string, probe: () => Promise<T | null>, timeoutMs = 90_000): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const v = await probe()
    if (v !== null) return v
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
}

/** A sample of this node's /metrics for one peer, or null when the metric is not there. */
async function metric (n: Node, name: string, peer: Node, labels = ''): Promise<number | null> {
  const text = await (await fetch(`http://127.0.0.1:${n.adminPort}/metrics`)).text()
  const m = new RegExp(`^${name}\\{peer="http://127\\.0\\.0\\.1:${peer.port}"${labels}\\} (\\S+)$`, 'm').exec(text)
  return m === null ? null : Number(m[1])
}

/** A sync request exactly as yubikey-val builds it (§4.2): fixed order, plain concatenation, no h. */
function ykvalSyncQuery (v: { otp: string, modified: number, publicId: string, counter: number, use: number, high: number, low: number, nonce: string }): string {
  return `otp=${v.otp}&modified=${v.modified}&yk_publicname=${v.publicId}&yk_counter=${v.counter}&yk_use=${v.use}` +
    `&yk_high=${v.high}&yk_low=${v.low}&nonce=${v.nonce}`
}

/** The same request signed with a sync key, as a yubival node sends it. */
/** Signed as a yubival node signs: plus ts (ms, checked for freshness), then h over everything. */
function signedSyncQuery (query: string, keyB64: string): string {
  const withTs = `${query}&ts=${Date.now()}`
  const params = Object.fromEntries(new URLSearchParams(withTs))
  return `${withTs}&h=${encodeURIComponent(sign(params, keyB64))}`
}

async function rawGet (n: Node, pathAndQuery: string, localAddress?: string): Promise<string> {
  return new Promise<string>((resolve, reject) => {
    http.get({ host: '127.0.0.1', port: n.port, path: pathAndQuery, ...(localAddress !== undefined ? { localAddress } : {}), agent: false }, (res) => {
      let text = ''
      res.setEncoding('utf8')
      res.on('data', (d: string) => { text += d })
      res.on('end', () => resolve(text))
    }).on('error', reject)
  })
}

async function getSync (n: Node, query: string, localAddress?: string): Promise<{ fields: Record<string, string>, body: string }> {
  const body = await rawGet(n, `${SYNC_PATH}?${query}`, localAddress)
  return { fields: parseResponse(body), body }
}

const SYNC_OK_ORDER = ['h', 't', 'modified', 'nonce', 'yk_publicname', 'yk_counter', 'yk_use', 'yk_high', 'yk_low', 'status']

interface QueueRow { server: string, kind: string, yk_publicname: string, yk_counter: number, yk_use: number, nonce: string }
interface KeyRow { active: boolean, yk_counter: number, yk_use: number }

describe('a sync pool of two yubival nodes with their own databases', () => {
  let inst: TestInstallation
  let dropB: () => Promise<void> = async () => {}
  let a: Node
  let b: Node
  let otps: string[]
  let pubid: string
  const client = (): { id: number, key: string } => inst.client

  beforeAll(async () => {
    inst = await createInstallation({ keyCount: 1 })
    pubid = inst.keys[0]!.publicId
    otps = ['', ...yubiotpOtps(inst.keys[0]!, Array.from({ length: 10 }, (_, i) => ({ counter: i + 1, use: 0 })))]
    // node B: its own database, a copy of the AEAD tree, the same keyfile and client
    const tb = await createTestDatabase()
    await tb.close()
    dropB = async () => tb.drop()
    const aeadB = path.join(inst.dir, 'aeads-b')
    cpSync(inst.env.YUBIVAL_AEAD_DIR!, aeadB, { recursive: true })
    const envB: Record<string, string> = { ...inst.env, YUBIVAL_DATA_DIR: tb.dataDir, YUBIVAL_AEAD_DIR: aeadB }
    if (tb.url !== null) envB.DATABASE_URL = tb.url
    cliOk(['clients', 'import'], { env: envB, input: cliOk(['clients', 'export'], { env: inst.env }) })

    const [pa, pb, aa, ab] = [await freePort(), await freePort(), await freePort(), await freePort()]
    a = { name: 'A', port: pa, adminPort: aa, env: inst.env, peerSyncUrl: `http://127.0.0.1:${pb}${SYNC_PATH}`, extra: {}, proc: null }
    b = { name: 'B', port: pb, adminPort: ab, env: envB, peerSyncUrl: `http://127.0.0.1:${pa}${SYNC_PATH}`, extra: {}, proc: null }
    await Promise.all([start(a), start(b)])
  }, 120_000)

  afterAll(async () => {
    await Promise.all([a, b].map(async (n) => n !== undefined ? stop(n) : undefined))
    await dropB()
    await inst?.cleanup()
  })

  test('an OTP accepted on one node is refused on the other, and so is an older one', async () => {
    const ok = await verifyOtp(url(a), client(), otps[2]!, SL100)
    expect(ok.status).toBe('OK')
    expect(ok.fields.sl).toBe('100')
    expect((await verifyOtp(url(b), client(), otps[2]!, SL100)).status).toBe('REPLAYED_OTP')
    expect((await verifyOtp(url(b), client(), otps[1]!, SL100)).status).toBe('REPLAYED_OTP')

    const onB = await verifyOtp(url(b), client(), otps[3]!, SL100)
    expect(onB.status).toBe('OK')
    expect(onB.fields.sl).toBe('100')
    expect((await verifyOtp(url(a), client(), otps[3]!, SL100)).status).toBe('REPLAYED_OTP')
  }, 120_000)

  test('peer down: NOT_ENOUGH_ANSWERS, the OTP is used up, and the queued message reaches the peer later (across restarts)', async () => {
    await stop(b)
    const nonce = randomNonce()
    const nea = await verifyOtp(url(a), client(), otps[4]!, { nonce, extra: { sl: '100' } })
    expect(nea.status).toBe('NOT_ENOUGH_ANSWERS')
    expect(Object.keys(nea.fields)).toEqual(['h', 't', 'otp', 'nonce', 'sl', 'status'])
    expect(nea.fields).toMatchObject({ otp: otps[4], nonce, sl: '0' })
    expect(responseSignatureOk(nea.fields, client().key)).toBe(true)
    expect((await verifyOtp(url(a), client(), otps[4]!, { nonce, extra: { sl: '100' } })).status).toBe('REPLAYED_REQUEST')

    // the message for B is a row of A's sync_queue, and stays one while A restarts
    await stop(a)
    const queued = await withDatabase(a, async (db) =>
      (await db.query<QueueRow>('SELECT server, kind, yk_publicname, yk_counter, yk_use, nonce FROM sync_queue ORDER BY id')).rows)
    expect(queued).toEqual([{ server: syncUrl(b), kind: 'otp', yk_publicname: pubid, yk_counter: 4, yk_use: 0, nonce }])
    await start(a)
    await start(b)

    // A's worker delivers it (a fresh process: its first OK request to B is this message)
    await until('A to deliver its queued message to B', async () => {
      const sent = await metric(a, 'yubival_sync_requests_total', b, ',result="ok"')
      const left = await metric(a, 'yubival_sync_queue_length', b)
      return sent !== null && sent >= 1 && left === 0 ? true : null
    })
    const replay = await verifyOtp(url(b), client(), otps[4]!, SL100)
    expect(replay.status).toBe('REPLAYED_OTP')
    // B refused it from its own row, not because A said so when asked
    const out = await b.proc!.waitForOutput('"status":"REPLAYED_OTP"').then(() => b.proc!.output())
    expect(out).toContain('"reason":"replayed_otp"')
    expect(out).not.toContain('replayed_on_peer')
  }, 180_000)

  test('active flag: a peer\'s BAD_OTP disables the key here; keys enable on a node re-enables it on its peer', async () => {
    // disabled on B behind yubival's back (no state message): A learns it from B's answer
    await offline(b, async () => withDatabase(b, async (db) => db.query('UPDATE yubikeys SET active = FALSE WHERE yk_publicname = $1', [pubid])))
    const refused = await verifyOtp(url(a), client(), otps[5]!, SL100)
    expect(refused.status).toBe('BAD_OTP')
    expect(Object.keys(refused.fields)).toEqual(['h', 't', 'status'])
    expect(responseSignatureOk(refused.fields, client().key)).toBe(true)
    await a.proc!.waitForOutput('"reason":"key_disabled_on_peer"')
    const rowA = await offline(a, async () => withDatabase(a, async (db) =>
      (await db.query<KeyRow>('SELECT active, yk_counter, yk_use FROM yubikeys WHERE yk_publicname = $1', [pubid])).rows[0]))
    expect(rowA).toEqual({ active: false, yk_counter: 5, yk_use: 0 })

    // `keys enable` on B queues a state message; B's worker carries the flag to A
    const said = await offline(b, async () => cliOk(['keys', 'enable', pubid], { env: serveEnv(b) }))
    expect(said).toBe(`key ${pubid} enabled; queued for 1 sync peer\n`)
    // A refuses a disabled key's OTP without using it up, so polling with it is harmless
    const ok = await until('the key to be enabled on A', async () => {
      const r = await verifyOtp(url(a), client(), otps[6]!, SL100)
      if (r.status === 'BAD_OTP') return null
      return r
    })
    expect(ok.status).toBe('OK')
    expect(ok.fields.sl).toBe('100')
  }, 180_000)

  test('a request exactly as yubikey-val sends it gets sync.php\'s answers', async () => {
    const p = randomPublicId()
    const fake = `${p}${'c'.repeat(32)}`
    const first = { otp: fake, modified: 1700000000, publicId: p, counter: 5, use: 3, high: 10, low: 200, nonce: randomNonce() }
    const r1 = await getSync(b, ykvalSyncQuery(first))
    expect(Object.keys(r1.fields)).toEqual(SYNC_OK_ORDER)
    // an unknown key is auto-inserted as verify does: the values before are -1 and sixteen zeros
    expect(r1.fields).toMatchObject({
      status: 'OK', modified: '-1', nonce: '0000000000000000', yk_publicname: p, yk_counter: '-1', yk_use: '-1', yk_high: '-1', yk_low: '-1'
    })
    expect(r1.body.endsWith('\r\n\r\n')).toBe(true)
    expect(responseSignatureOk(r1.fields, '')).toBe(true)

    const second = { ...first, modified: 1700000010, use: 4, high: 11, low: 300, nonce: randomNonce() }
    const r2 = await getSync(b, ykvalSyncQuery(second))
    expect(Object.keys(r2.fields)).toEqual(SYNC_OK_ORDER)
    expect(r2.fields).toMatchObject({
      status: 'OK', modified: '1700000000', nonce: first.nonce, yk_publicname: p, yk_counter: '5', yk_use: '3', yk_high: '10', yk_low: '200'
    })
    expect(responseSignatureOk(r2.fields, '')).toBe(true)

    // lower counters change nothing: the answer still shows the newest state
    const r3 = await getSync(b, ykvalSyncQuery({ ...first, use: 1, nonce: randomNonce() }))
    expect(r3.fields).toMatchObject({ status: 'OK', modified: '1700000010', nonce: second.nonce, yk_counter: '5', yk_use: '4', yk_high: '11', yk_low: '300' })

    // sync.php's refusals
    const missing = await getSync(b, ykvalSyncQuery(second).replace(/&yk_low=\d+/, ''))
    expect(missing.fields.status).toBe('MISSING_PARAMETER')
    expect(Object.keys(missing.fields)).toEqual(['h', 't', 'status'])
    expect((await getSync(b, '')).fields.status).toBe('MISSING_PARAMETER')
    const stranger = await getSync(b, ykvalSyncQuery(second), '127.0.0.2')
    expect(stranger.fields.status).toBe('OPERATION_NOT_ALLOWED')
    expect(responseSignatureOk(stranger.fields, '')).toBe(true)

    // resync.php, as ykval-synchronize on a new node calls it
    expect(await rawGet(b, '/wsapi/2.0/resync?yk=all', '127.0.0.2')).toBe('ERROR Authorization failed (logged 127.0.0.2)\n')
    expect(await rawGet(b, `/wsapi/2.0/resync?yk=${randomPublicId()}`)).toMatch(/^ERROR Unknown yubikey: v[cbdefghijklnrtuv]{11}\n$/)
    expect(await rawGet(b, `/wsapi/2.0/resync?yk=${p}`)).toBe(`OK Initiated resync of ${p}\n`)
  }, 60_000)

  test('signed sync requests: same key works, another key is BAD_SIGNATURE, unsigned only from YUBIVAL_SYNC_UNSIGNED_IPS', async () => {
    const key = randomBytes(32).toString('base64')
    const other = randomBytes(32).toString('base64')
    await Promise.all([stop(a), stop(b)])
    await Promise.all([start(a, { YUBIVAL_SYNC_KEY: key }), start(b, { YUBIVAL_SYNC_KEY: key })])
    const ok = await verifyOtp(url(a), client(), otps[7]!, SL100)
    expect(ok.status).toBe('OK')
    expect(ok.fields.sl).toBe('100')
    expect((await verifyOtp(url(b), client(), otps[7]!, SL100)).status).toBe('REPLAYED_OTP')

    const p = randomPublicId()
    const query = ykvalSyncQuery({ otp: `${p}${'c'.repeat(32)}`, modified: 1700000000, publicId: p, counter: 1, use: 0, high: 1, low: 1, nonce: randomNonce() })
    // a signed request gets an answer signed with the sync key
    const signed = await getSync(b, signedSyncQuery(query, key))
    expect(signed.fields.status).toBe('OK')
    expect(responseSignatureOk(signed.fields, key)).toBe(true)
    const unsigned = await getSync(b, query)
    expect(unsigned.fields.status).toBe('OPERATION_NOT_ALLOWED')

    // B with another key refuses A's requests: A cannot reach the sync level
    await stop(b)
    await start(b, { YUBIVAL_SYNC_KEY: other })
    const nea = await verifyOtp(url(a), client(), otps[8]!, SL100)
    expect(nea.status).toBe('NOT_ENOUGH_ANSWERS')
    expect(nea.fields.sl).toBe('0')
    expect(responseSignatureOk(nea.fields, client().key)).toBe(true)
    await b.proc!.waitForOutput('"status":"BAD_SIGNATURE"')
    const wrong = await getSync(b, signedSyncQuery(query, key))
    expect(wrong.fields.status).toBe('BAD_SIGNATURE')
    expect(responseSignatureOk(wrong.fields, '')).toBe(true)

    // a yubikey-val node's unsigned requests are let in from YUBIVAL_SYNC_UNSIGNED_IPS
    await stop(b)
    await start(b, { YUBIVAL_SYNC_KEY: other, YUBIVAL_SYNC_UNSIGNED_IPS: '127.0.0.1' })
    const letIn = await getSync(b, query)
    expect(letIn.fields.status).toBe('OK')
    expect(letIn.fields.yk_counter).toBe('1')
    // the sync keys never reach a log line
    for (const n of [a, b]) {
      expect(n.proc!.output()).not.toContain(key)
      expect(n.proc!.output()).not.toContain(other)
    }
  }, 180_000)
})
