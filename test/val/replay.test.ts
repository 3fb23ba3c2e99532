import { describe, expect, it } from 'vitest'
import type { AcceptRequest, YubikeyRecord } from '../../src/db/types.js'
import { acceptOtp, classifyRefusal } from '../../src/val/replay.js'
import { FakeYubikeyStore } from './fakes.js'

const req: AcceptRequest = { publicId: 'ccftftftcccc', counter: 5, use: 3, low: 1, high: 2, nonce: 'kakakakakakakakaka', now: 1000 }
const row = (o: Partial<YubikeyRecord>): YubikeyRecord => ({
  publicId: 'ccftftftcccc', active: true, created: 1, modified: 1, counter: 5, use: 3, low: 0, high: 0, nonce: req.nonce, notes: '', ...o
})

describe('classifying a refusal from the stored row (reference §3.4, key state first)', () => {
  it.each<[string, YubikeyRecord | null, string | null]>([
    ['no row', null, null],
    ['disabled, same counters and nonce', row({ active: false }), 'key_disabled'],
    ['disabled, lower counters', row({ active: false, counter: 1 }), 'key_disabled'],
    ['same counters, same nonce', row({}), 'replayed_request'],
    ['same counters, other nonce', row({ nonce: 'bakabakabakabaka' }), 'replayed_otp'],
    ['same session, higher use', row({ use: 4 }), 'replayed_otp'],
    ['higher session, lower use', row({ counter: 6, use: 0 }), 'replayed_otp'],
    ['lower use (store should have accepted)', row({ use: 2 }), null],
    ['lower session', row({ counter: 4, use: 255 }), null],
    ['odd counter value', row({ counter: Number.NaN }), null]
  ])('%s → %s', (_name, current, expected) => {
    expect(classifyRefusal(current, req)).toBe(expected)
  })

  it('compares nonces with PHP loose ==, so equal numeric strings are the same request', () => {
    expect(classifyRefusal(row({ nonce: '0000000000000000' }), { ...req, nonce: '00000000000000000' })).toBe('replayed_request')
    expect(classifyRefusal(row({ nonce: 'abcdabcdabcdabcd' }), { ...req, nonce: 'ABCDABCDABCDABCD' })).toBe('replayed_otp')
  })
})

describe('acceptOtp', () => {
  it('accepts a first sight, refuses the same counters afterwards', async () => {
    const store = new FakeYubikeyStore()
    expect((await acceptOtp(store, req)).reason).toBe('ok')
    expect((await acceptOtp(store, req)).reason).toBe('replayed_request')
    expect((await acceptOtp(store, { ...req, nonce: 'other0000000000000' })).reason).toBe('replayed_otp')
    expect((await acceptOtp(store, { ...req, use: 4 })).reason).toBe('ok')
  })

  it('reports a throwing store as db_unavailable with a secret-free detail', async () => {
    const store = new FakeYubikeyStore()
    store.fail = true
    const out = await acceptOtp(store, req)
    expect(out.reason).toBe('db_unavailable')
    expect(out.detail).toMatch(/^yubikey store: Error: canceling statement/)
  })
})
