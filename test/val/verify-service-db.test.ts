// The reference §1.4 table and the §1.6 replay rows again, on the real stores (PGlite, and PostgreSQL
// when TEST_DATABASE_URL is set) with the real KSM on the pyhsm fixture tree instead of fakes.
import path from 'node:path'
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { createStores } from '../../src/db/stores.js'
import { openFileKsm } from '../../src/ksm/open-file-ksm.js'
import { createVerifyService, type VerifyService } from '../../src/val/verify-service.js'
import { protocolVersion } from '../../src/wsapi/params.js'
import { selectRequestParams } from '../../src/wsapi/query-parse.js'
import { createTestDatabase, testBackends, type TestDatabase } from '../helpers/database.js'
import { CHECK_ORDER_ROWS } from './check-order-table.js'
import { FIXTURES } from './fakes.js'
import { EMPTY, INACTIVE_SECRET, KEY, NONCE, OTP1, SECRET, expectSignedWith } from './helpers.js'

describe.each(testBackends())('verify service on %s with the fixture KSM', (backend) => {
  let t: TestDatabase
  let service: VerifyService
  const verify = async (query: string, route = '/wsapi/2.0/verify') =>
    service.verify({ protocol: protocolVersion(`${route}?${query}`), params: selectRequestParams(query) })

  beforeAll(async () => {
    t = await createTestDatabase({ backend })
    await t.db.query('INSERT INTO clients (id, active, created, secret) VALUES (1, TRUE, 0, $1), (2, FALSE, 0, $2)', [SECRET, INACTIVE_SECRET])
    const { ksm } = openFileKsm({
      keyfile: path.join(FIXTURES, 'keys.json'), allowInsecureKeyfile: true, aeadDir: path.join(FIXTURES, 'aeads'), keyHandles: ['1'], aeadCacheSize: 10, warn: () => {}
    })
    const stores = createStores(t.db, { clientCacheMs: 0 })
    service = createVerifyService({ ksm, clients: stores.clients, yubikeys: stores.yubikeys })
  })
  beforeEach(async () => { await t.db.query('DELETE FROM yubikeys') })
  afterAll(async () => { await t?.drop() })

  it.each(CHECK_ORDER_ROWS)('$name → $status ($reason)', async (row) => {
    const out = await verify(row.q)
    expect([out.status, out.reason]).toEqual([row.status, row.reason])
    const p = expectSignedWith(out.body, row.key === 'client' ? KEY : EMPTY)
    if (row.status !== 'OK') expect(p.extras).toEqual([])
  })

  it('§1.6: OK, then REPLAYED_REQUEST (same nonce) and REPLAYED_OTP (other nonce) echo otp and nonce; v1 echoes neither', async () => {
    const q = `id=1&otp=${OTP1}&nonce=${NONCE}&timestamp=1`
    const ok = expectSignedWith((await verify(q)).body, KEY)
    expect(ok.extras.map(([k]) => k)).toEqual(['otp', 'nonce', 'sl', 'timestamp', 'sessioncounter', 'sessionuse'])
    const again = expectSignedWith((await verify(q)).body, KEY)
    expect([again.status, again.extras]).toEqual(['REPLAYED_REQUEST', [['otp', OTP1], ['nonce', NONCE]]])
    const other = expectSignedWith((await verify(`id=1&otp=${OTP1}&nonce=bakabakabakabaka`)).body, KEY)
    expect([other.status, other.extras]).toEqual(['REPLAYED_OTP', [['otp', OTP1], ['nonce', 'bakabakabakabaka']]])
    const v1 = expectSignedWith((await verify(`id=1&otp=${OTP1}`, '/wsapi/verify')).body, KEY)
    expect([v1.status, v1.extras]).toEqual(['REPLAYED_OTP', []])
    const { rows } = await t.db.query<{ nonce: string }>("SELECT nonce FROM yubikeys WHERE yk_publicname = 'ccftftftcccc'")
    expect(rows[0]?.nonce).toBe(NONCE)
  })

  it('§2.3: the reference request signature is accepted (the OTP is then unknown to this KSM: BAD_OTP)', async () => {
    const q = 'id=1&nonce=kakakakakakakakakakakaka&otp=idkfefrdhtrutjduvtcjbfeuvhehdvjjlbchtlenfgku&h=ehhpPyH9W%2FuL5v%2F1XGd52oN8yMg%3D'
    const out = await verify(q)
    expect([out.status, out.reason]).toEqual(['BAD_OTP', 'unknown_key'])
    expectSignedWith(out.body, KEY)
    const tampered = await verify(q.replace('id=1&', 'id=01&'))
    expect(tampered.status).toBe('BAD_SIGNATURE')
  })
})
