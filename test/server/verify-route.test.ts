// The assembled app (Fastify + verify service + real stores + in-process KSM on the pyhsm fixture tree),
// driven with app.inject, on PGlite and (when TEST_DATABASE_URL is set) PostgreSQL.
import { readFileSync } from 'node:fs'
import path from 'node:path'
import { Writable } from 'node:stream'
import type { FastifyInstance } from 'fastify'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createStores } from '../../src/db/stores.js'
import { createClients } from '../../src/db/clients-repository.js'
import { openFileKsm } from '../../src/ksm/open-file-ksm.js'
import { buildApp } from '../../src/server/app.js'
import { createLogger } from '../../src/server/logger.js'
import { createVerifyService } from '../../src/val/verify-service.js'
import { createTestDatabase, testBackends, type TestDatabase } from '../helpers/database.js'
import { PYHSM_FIXTURES } from '../helpers/fixtures-path.js'
import { parseResponse, responseSignatureOk, sign } from '../helpers/wsapi-client.js'

const FIXTURES = PYHSM_FIXTURES
interface OtpCase { server: string, case: string, otp: string | null }
const cases = (JSON.parse(readFileSync(path.join(FIXTURES, 'otp-cases.json'), 'utf8')) as { cases: OtpCase[] }).cases
function fixtureOtp (name: string): string {
  const c = cases.find((x) => x.server === 'S1' && x.case === name)
  if (c?.otp == null) throw new Error(`no fixture OTP ${name}`)
  return c.otp
}

describe.each(testBackends())('verify endpoint on %s with the pyhsm fixture tree', (backend) => {
  let t: TestDatabase
  let app: FastifyInstance
  let client: { id: number, key: string }
  let disabledClient: { id: number, key: string }
  let logText = ''

  beforeAll(async () => {
    t = await createTestDatabase({ backend })
    const [c1, c2] = await createClients(t.db, { count: 2, now: 1_700_000_000 })
    client = { id: c1!.id, key: c1!.secret }
    disabledClient = { id: c2!.id, key: c2!.secret }
    await t.db.query('UPDATE clients SET active = FALSE WHERE id = $1', [disabledClient.id])
    const { ksm } = openFileKsm({ keyfile: path.join(FIXTURES, 'keys-multi.json'), allowInsecureKeyfile: true, aeadDir: path.join(FIXTURES, 'aeads'), keyHandles: ['1', '2'], aeadCacheSize: 100, warn: () => {} })
    const stores = createStores(t.db, { clientCacheMs: 0 })
    const sink = new Writable({ write (chunk, _enc, cb) { logText += String(chunk); cb() } })
    app = buildApp({
      verifyService: createVerifyService({ ksm, clients: stores.clients, yubikeys: stores.yubikeys }),
      logger: createLogger('trace', sink),
      readiness: async () => ({ ready: true, checks: {} })
    })
    await app.ready()
  })
  afterAll(async () => {
    await app?.close()
    await t?.drop()
  })

  async function get (params: Record<string, string>, path = '/wsapi/2.0/verify'): Promise<{ fields: Record<string, string>, body: string, contentType: string }> {
    const res = await app.inject({ method: 'GET', url: `${path}?${new URLSearchParams(params).toString()}` })
    expect(res.statusCode).toBe(200)
    return { fields: parseResponse(res.body), body: res.body, contentType: String(res.headers['content-type']) }
  }
  function signed (params: Record<string, string>, key = client.key): Record<string, string> {
    return { ...params, h: sign(params, key) }
  }

  it('accepts a pyhsm-made OTP once, with the exact WSAPI 2.0 response, then reports replays', async () => {
    const otp = fixtureOtp('credtivccccc-otp1')
    const nonce = 'abcdefghijklmnop0123'
    const ok = await get(signed({ id: String(client.id), otp, nonce, timestamp: '1' }))
    expect(ok.contentType).toMatch(/^text\/plain/)
    expect(ok.body).toMatch(/^h=[A-Za-z0-9+/]{27}=\r\nt=\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ0\d{3}\r\notp=.*\r\nnonce=.*\r\nsl=100\r\ntimestamp=\d+\r\nsessioncounter=1\r\nsessionuse=0\r\nstatus=OK\r\n\r\n$/)
    expect(ok.fields).toMatchObject({ otp, nonce, sl: '100', status: 'OK', timestamp: String((0x0a << 16) + 0x1b2c) })
    expect(responseSignatureOk(ok.fields, client.key)).toBe(true)

    const sameRequest = await get(signed({ id: String(client.id), otp, nonce, timestamp: '1' }))
    expect(sameRequest.fields.status).toBe('REPLAYED_REQUEST')
    expect(sameRequest.fields).toMatchObject({ otp, nonce })
    const otherNonce = await get(signed({ id: String(client.id), otp, nonce: 'zzzzzzzzzzzzzzzz' }))
    expect(otherNonce.fields.status).toBe('REPLAYED_OTP')
    expect(responseSignatureOk(otherNonce.fields, client.key)).toBe(true)

    // The next touch and the byte-order probe are newer: accepted. otp5 (counter 0) is older: refused.
    expect((await get({ id: String(client.id), otp: fixtureOtp('credtivccccc-otp2'), nonce })).fields.status).toBe('OK')
    expect((await get({ id: String(client.id), otp: fixtureOtp('credtivccccc-otp3'), nonce })).fields.status).toBe('OK')
    expect((await get({ id: String(client.id), otp: fixtureOtp('credtivccccc-otp5'), nonce })).fields.status).toBe('REPLAYED_OTP')
  })

  it('takes the parameters from a urlencoded POST body', async () => {
    const params = signed({ id: String(client.id), otp: fixtureOtp('dteffujehknh-otp1'), nonce: 'postpostpostpost' })
    const res = await app.inject({ method: 'POST', url: '/wsapi/2.0/verify', payload: new URLSearchParams(params).toString(), headers: { 'content-type': 'application/x-www-form-urlencoded' } })
    expect(parseResponse(res.body).status).toBe('OK')
    // A JSON body is not form data: no parameters at all → the nonce is missing.
    const json = await app.inject({ method: 'POST', url: '/wsapi/2.0/verify', payload: JSON.stringify(params), headers: { 'content-type': 'application/json' } })
    expect(parseResponse(json.body).status).toBe('MISSING_PARAMETER')
  })

  it('protocol 1.0 at /wsapi/verify: no otp or nonce in the answer, a replay is REPLAYED_OTP', async () => {
    const otp = fixtureOtp('ftftftftftft-otp1')
    const first = await get(signed({ id: String(client.id), otp }), '/wsapi/verify')
    expect(first.fields.status).toBe('OK')
    expect(first.fields.otp).toBeUndefined()
    expect(first.fields.nonce).toBeUndefined()
    expect(responseSignatureOk(first.fields, client.key)).toBe(true)
    expect((await get({ id: String(client.id), otp }, '/wsapi/verify')).fields.status).toBe('REPLAYED_OTP')
  })

  it('says BAD_OTP for unknown keys and broken tokens, and BAD_SIGNATURE for a wrong h, all signed with the client key', async () => {
    const id = String(client.id)
    for (const name of ['N05-unknown-public-id', 'N01-wrong-aes-key', 'N02-wrong-private-uid', 'N03-bad-crc']) {
      const r = await get({ id, otp: fixtureOtp(name), nonce: 'badbadbadbadbadbad' })
      expect(r.fields.status, name).toBe('BAD_OTP')
      expect(responseSignatureOk(r.fields, client.key), name).toBe(true)
    }
    const forged = { id, otp: fixtureOtp('vvvvvvvvvvvv-otp1'), nonce: 'forgedforgedforged' }
    const bad = await get({ ...forged, h: sign(forged, Buffer.alloc(20, 7).toString('base64')) })
    expect(bad.fields.status).toBe('BAD_SIGNATURE')
    // The forged request did not consume the OTP.
    expect((await get(signed(forged))).fields.status).toBe('OK')
  })

  it('refuses inactive and unknown clients with NO_SUCH_CLIENT signed with the empty key', async () => {
    for (const id of [String(disabledClient.id), '999999']) {
      const r = await get({ id, otp: fixtureOtp('credtivccccb-otp1'), nonce: 'nosuchclientnosuch' })
      expect(r.fields.status).toBe('NO_SUCH_CLIENT')
      expect(responseSignatureOk(r.fields, '')).toBe(true)
    }
  })

  it('refuses a disabled YubiKey with BAD_OTP without touching its counters', async () => {
    const id = String(client.id)
    expect((await get({ id, otp: fixtureOtp('credtivccccd-otp1'), nonce: 'disableddisabled' })).fields.status).toBe('OK')
    await t.db.query("UPDATE yubikeys SET active = FALSE WHERE yk_publicname = 'credtivccccd'")
    expect((await get({ id, otp: fixtureOtp('credtivccccd-otp2'), nonce: 'disableddisabled' })).fields.status).toBe('BAD_OTP')
    const { rows } = await t.db.query<{ yk_use: number }>("SELECT yk_use FROM yubikeys WHERE yk_publicname = 'credtivccccd'")
    expect(rows[0]?.yk_use).toBe(0)
  })

  it('logs one secret-free line per verify', async () => {
    const otp = fixtureOtp('credtivcccce-otp1')
    await get(signed({ id: String(client.id), otp, nonce: 'loglineloglinelogline' }))
    const lines = logText.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>)
    const line = lines.find((l) => l.publicId === 'credtivcccce')
    expect(line).toMatchObject({ msg: 'verify', status: 'OK', reason: 'ok', client: client.id })
    expect(logText).not.toContain(otp)
    expect(logText).not.toContain(otp.slice(12))
    expect(logText).not.toContain(client.key)
  })

  it('HEAD does not run a verify (the OTP is not used up)', async () => {
    const params = { id: String(client.id), otp: fixtureOtp('credtivccccf-otp1'), nonce: 'headheadheadhead' }
    const head = await app.inject({ method: 'HEAD', url: `/wsapi/2.0/verify?${new URLSearchParams(params).toString()}` })
    expect(head.statusCode).toBe(404)
    expect((await get(params)).fields.status).toBe('OK')
  })

  it('answers 404 elsewhere and never crashes on odd input', async () => {
    expect((await app.inject({ method: 'GET', url: '/wsapi/2.0/nothing' })).statusCode).toBe(404)
    const odd = await app.inject({ method: 'GET', url: '/wsapi/2.0/verify?id=%ZZ&otp[]=x&nonce=%00%00&h=%' })
    expect(odd.statusCode).toBe(200)
    expect(parseResponse(odd.body).status).toBe('MISSING_PARAMETER')
  })
})
