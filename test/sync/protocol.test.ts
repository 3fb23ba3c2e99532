import { describe, expect, test } from 'vitest'
import {
  buildSyncUrl, isValidAnswer, parseSyncAnswer, readSyncRequest, reportedSyncLevel, requiredAnswers, type SyncMessage
} from '../../src/sync/protocol.js'
import { parseQueryString } from '../../src/wsapi/query-parse.js'
import { hmac, signString } from '../val/helpers.js'

const PUB = 'ccftftftcccc'
const MSG: SyncMessage = {
  otp: PUB + 'dhtrutjduvtcjbfeuvhehdvjjlbchtle', modified: 1700000000, publicId: PUB, counter: 5, use: 3, high: 21, low: 36160, nonce: 'kakakakakakakakakakakaka'
}

describe('sync request URL (reference §4.2)', () => {
  test('unsigned: exactly yubikey-val\'s parameter order, plain concatenation', () => {
    expect(buildSyncUrl('http://10.0.0.2/wsapi/2.0/sync', MSG, null)).toBe(
      `http://10.0.0.2/wsapi/2.0/sync?otp=${MSG.otp}&modified=1700000000&yk_publicname=${PUB}&yk_counter=5&yk_use=3` +
      '&yk_high=21&yk_low=36160&nonce=kakakakakakakakakakakaka')
  })

  test('a state message adds active; with a key, h signs every parameter (sorted, as WSAPI)', () => {
    const key = Buffer.from('0123456789abcdef0123')
    const url = buildSyncUrl('https://v/wsapi/2.0/sync', { ...MSG, counter: -1, use: -1, active: false }, key, 1_800_000_000_123)
    const query = url.slice(url.indexOf('?') + 1)
    const params = [...parseQueryString(query).entries] as Array<[string, string]>
    expect(params.map(([k]) => k)).toEqual(['otp', 'modified', 'yk_publicname', 'yk_counter', 'yk_use', 'yk_high', 'yk_low', 'nonce', 'active', 'ts', 'h'])
    const h = params.pop()![1]
    expect(params).toContainEqual(['active', '0'])
    expect(params).toContainEqual(['yk_counter', '-1'])
    expect(params).toContainEqual(['ts', '1800000000123'])
    expect(h).toBe(hmac(signString(params), key))
  })
})

describe('sync levels (reference §3.6, §4.4 worked numbers)', () => {
  test('required answers = ceil(peers × sl / 100)', () => {
    expect([1, 40, 60, 100, 101].map((sl) => requiredAnswers(4, sl))).toEqual([1, 2, 3, 4, 5])
    expect([1, 50, 60, 100, 150].map((sl) => requiredAnswers(1, sl))).toEqual([1, 1, 1, 1, 2])
  })
  test('reported sl = floor(100 × valid / peers), 0 without peers', () => {
    expect(reportedSyncLevel(3, 4)).toBe(75)
    expect(reportedSyncLevel(1, 3)).toBe(33)
    expect(reportedSyncLevel(0, 1)).toBe(0)
    expect(reportedSyncLevel(0, 0)).toBe(0)
  })
})

describe('peer answers (reference §4.4)', () => {
  const ok = (fields: string): string => `h=x\r\nt=2020-01-01T00:00:00Z0000\r\n${fields}status=OK\r\n\r\n`
  const all = 'modified=1700000001\r\nnonce=othernonce000000\r\nyk_publicname=ccftftftcccc\r\nyk_counter=5\r\nyk_use=2\r\nyk_high=-1\r\nyk_low=7\r\n'

  test('an OK answer with every field is read; -1 and CRLF are fine', () => {
    expect(parseSyncAnswer(ok(all))).toEqual({
      kind: 'ok', state: { modified: 1700000001, publicId: PUB, counter: 5, use: 2, high: -1, low: 7, nonce: 'othernonce000000' }
    })
  })
  test('BAD_OTP means the peer has the key disabled; anything else, or a missing field, is not an answer', () => {
    expect(parseSyncAnswer('h=x\r\nstatus=BAD_OTP\r\n\r\n')).toEqual({ kind: 'key_disabled' })
    expect(parseSyncAnswer('h=x\r\nstatus=OPERATION_NOT_ALLOWED\r\n')).toEqual({ kind: 'refused', status: 'OPERATION_NOT_ALLOWED' })
    expect(parseSyncAnswer('<html>502</html>')).toEqual({ kind: 'refused', status: 'no status line' })
    expect(parseSyncAnswer(ok(all.replace('yk_use=2\r\n', '')))).toMatchObject({ kind: 'refused' })
    // a value that only starts like a field does not count
    expect(parseSyncAnswer(ok(all.replace('yk_counter=5', 'yk_counter=5x')))).toMatchObject({ kind: 'refused' })
    expect(parseSyncAnswer(ok(all.replace('yk_counter=5', 'yk_counter=99999999999')))).toMatchObject({ kind: 'refused' })
  })
  test('valid unless the peer saw a later OTP, or this one with another request nonce', () => {
    const peer = { modified: 1, publicId: PUB, high: 0, low: 0 }
    const m = { counter: 5, use: 3, nonce: 'mine000000000000' }
    expect(isValidAnswer({ ...peer, counter: 5, use: 2, nonce: 'x' }, m)).toBe(true)
    expect(isValidAnswer({ ...peer, counter: -1, use: -1, nonce: '0000000000000000' }, m)).toBe(true)
    expect(isValidAnswer({ ...peer, counter: 5, use: 3, nonce: 'mine000000000000' }, m)).toBe(true)
    expect(isValidAnswer({ ...peer, counter: 5, use: 3, nonce: 'other00000000000' }, m)).toBe(false)
    expect(isValidAnswer({ ...peer, counter: 5, use: 4, nonce: 'mine000000000000' }, m)).toBe(false)
    expect(isValidAnswer({ ...peer, counter: 6, use: 0, nonce: 'x' }, m)).toBe(false)
  })
})

describe('incoming sync request checks (reference §4.3 steps 3, 5, 6)', () => {
  const base: Array<[string, string]> = [
    ['otp', MSG.otp], ['modified', '1700000000'], ['yk_publicname', PUB], ['yk_counter', '5'], ['yk_use', '0'],
    ['yk_high', '21'], ['yk_low', '36160'], ['nonce', MSG.nonce]
  ]
  const read = (pairs: Array<[string, string]>) => readSyncRequest(parseQueryString(pairs.map(([k, v]) => `${k}=${encodeURIComponent(v)}`).join('&')))
  const without = (name: string) => base.filter(([k]) => k !== name)
  const replaced = (name: string, value: string) => base.map(([k, v]) => [k, k === name ? value : v] as [string, string])

  test('a complete request is read (use 0 is a value, not "empty")', () => {
    expect(read(base)).toEqual({ ok: true, message: { ...MSG, use: 0, active: null } })
    expect(read([...base, ['active', '0']])).toMatchObject({ ok: true, message: { active: false } })
  })
  test('required parameters are checked in sync.php\'s order', () => {
    expect(read([])).toEqual({ ok: false, why: 'modified is missing or empty' })
    expect(read(without('nonce').filter(([k]) => k !== 'otp'))).toEqual({ ok: false, why: 'otp is missing or empty' })
    expect(read(replaced('yk_low', ''))).toEqual({ ok: false, why: 'yk_low is missing or empty' })
  })
  test.each([
    ['modified', '-1', 'modified is not a whole number'],
    ['yk_counter', '1.5', 'yk_counter is not a whole number or -1'],
    ['yk_use', '-2', 'yk_use is not a whole number or -1'],
    ['otp', 'ccccccccccccccccccccccccccccccc', 'otp is not 32-48 modhex characters'],
    ['otp', MSG.otp.toUpperCase(), 'otp is not 32-48 modhex characters'],
    ['yk_publicname', 'ccccccccccccccccc', 'yk_publicname is not 1-16 modhex characters'],
    ['nonce', 'short', 'nonce is not 16-40 letters and digits'],
    ['yk_counter', '4294967296', 'a counter is out of range']
  ])('%s=%s → MISSING_PARAMETER (%s)', (name, value, why) => {
    expect(read(replaced(name, value))).toEqual({ ok: false, why })
  })
  test('-1 counters are accepted (a peer that never saw the key)', () => {
    expect(read(replaced('yk_counter', '-1'))).toMatchObject({ ok: true, message: { counter: -1 } })
  })
  test('active must be 0 or 1', () => {
    expect(read([...base, ['active', 'yes']])).toEqual({ ok: false, why: 'active is not 0 or 1' })
  })
})
