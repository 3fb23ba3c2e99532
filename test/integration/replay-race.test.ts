// Never accept an OTP twice: two `yubival serve` processes on one PostgreSQL database, many OTPs, each
// sent 50 times concurrently (mixed nonces, spread over both processes) → exactly one OK per OTP.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createInstallation, type TestInstallation } from '../helpers/environment.js'
import { startServer, type ServerProcess } from '../helpers/server-process.js'
import { randomNonce, responseSignatureOk, verifyOtp } from '../helpers/wsapi-client.js'
import { yubiotpOtps } from '../helpers/yubiotp.js'

const pg = process.env.TEST_DATABASE_URL
if (process.env.CI !== undefined && pg === undefined) throw new Error('CI must set TEST_DATABASE_URL')

describe.skipIf(pg === undefined)('replay race across two server processes on one PostgreSQL database', () => {
  let inst: TestInstallation
  let servers: ServerProcess[]

  beforeAll(async () => {
    inst = await createInstallation({ keyCount: 4 })
    servers = await Promise.all([startServer(inst.env), startServer(inst.env)])
  })
  afterAll(async () => {
    await Promise.all((servers ?? []).map((s) => s.stop()))
    await inst?.cleanup()
  })

  it('exactly one OK for each OTP fired 50 times at once (40 OTPs)', async () => {
    const OTPS_PER_KEY = 10
    let total = 0
    for (const key of inst.keys) {
      const otps = yubiotpOtps(key, Array.from({ length: OTPS_PER_KEY }, (_, i) => ({ counter: 1 + i, use: 0 })))
      for (const otp of otps) {
        const sharedNonce = randomNonce()
        const results = await Promise.all(Array.from({ length: 50 }, (_, i) =>
          verifyOtp(servers[i % 2]!.url, inst.client, otp, { nonce: i % 3 === 0 ? sharedNonce : randomNonce() })))
        const statuses = results.map((r) => r.status)
        expect(statuses.filter((s) => s === 'OK')).toHaveLength(1)
        for (const s of statuses) expect(['OK', 'REPLAYED_OTP', 'REPLAYED_REQUEST']).toContain(s)
        for (const r of results) expect(responseSignatureOk(r.fields, inst.client.key)).toBe(true)
        total++
      }
    }
    expect(total).toBe(40)
  })

  it('out-of-order delivery: n+1 always ends accepted, n only if it came first, counters never go back', async () => {
    const key = inst.keys[0]!
    for (let trial = 0; trial < 20; trial++) {
      const base = 100 + trial * 2
      const [n, n1] = yubiotpOtps(key, [{ counter: base, use: 0 }, { counter: base + 1, use: 0 }]) as [string, string]
      const [rn, rn1] = await Promise.all([verifyOtp(servers[0]!.url, inst.client, n), verifyOtp(servers[1]!.url, inst.client, n1)])
      expect(rn1.status).toBe('OK')
      expect(['OK', 'REPLAYED_OTP']).toContain(rn.status)
      // Whatever happened, both are now refused: stored counters are at n+1.
      expect((await verifyOtp(servers[trial % 2]!.url, inst.client, n)).status).toBe('REPLAYED_OTP')
      expect((await verifyOtp(servers[trial % 2]!.url, inst.client, n1)).status).toBe('REPLAYED_OTP')
    }
  })
})
