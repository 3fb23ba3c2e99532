import { describe, expect, it } from 'vitest'
import {
  getHttpVal, isClientId, isNonce, isNonceMissing, isProtocolV2, isRequestOtp, isTimeoutValid,
  isTimestampRequested, normaliseRequestOtp, parseSl, protocolVersion
} from '../../src/wsapi/params.js'
import { parseQueryString } from '../../src/wsapi/query-parse.js'

const OTP = 'ccftftftccccectnrhvjjverrvnuhkenhglvcbirifdb'

describe('getHttpVal', () => {
  const p = parseQueryString('a=%20%09x%5Cy%5C%0A%00%0B&b=&c[]=1&d=%0C1%0C&e=%5C%20z%20%5C')
  it.each([
    ['a', 'xy'], // trim, then every backslash removed
    ['b', ''], // present but empty: no default
    ['c', ''], // an array reads as empty
    ['d', '\f1\f'], // form feed is not trimmed
    ['e', ' z '], // backslash removal happens after trim
    ['absent', 'DEF']
  ])('%s → %j', (key, expected) => {
    expect(getHttpVal(p, key, 'DEF')).toBe(expected)
  })
})

describe('protocol version from the request URI', () => {
  it.each([
    ['/wsapi/2.0/verify?id=1', 2, true],
    ['/wsapi/verify?id=1', 1, false],
    ['/verify?id=1', 1, false],
    ['/wsapi/1.1/verify', 1.1, false],
    ['/wsapi/3.0/verify', 3, true],
    ['/wsapi/0.20/verify', 2, true],
    ['/wsapi/2.0verify', 1, false],
    ['/wsapi/verify?x=/wsapi/2.0/', 2, true],
    ['/wsapi/verify?x=%2Fwsapi%2F2.0%2F', 1, false],
    ['/prefix/wsapi/2.5/verify', 2.5, true]
  ])('%s → %d (v2: %s)', (uri, version, v2) => {
    expect(protocolVersion(uri)).toBeCloseTo(version, 10)
    expect(isProtocolV2(protocolVersion(uri))).toBe(v2)
  })
})

describe('validators', () => {
  it.each([
    ['1', true], ['0001', true], ['9999999999', true], ['2147483648', true],
    ['0', false], ['00', false], ['0000000000', false], ['', false], ['12345678901', false], ['-1', false],
    ['1.0', false], ['1e3', false], ['+1', false], ['\u0661', false], ['1 ', false]
  ])('is_clientid(%j) = %s', (id, ok) => {
    expect(isClientId(id)).toBe(ok)
  })

  it.each([['', true], ['0', true], ['00', false], [' ', false], ['a', false]])('nonce %j missing: %s', (n, missing) => {
    expect(isNonceMissing(n)).toBe(missing)
  })

  it.each([
    ['a'.repeat(16), true], ['A1'.repeat(20), true], ['a'.repeat(15), false], ['a'.repeat(41), false],
    ['kakakakakakaka-ka', false], ['kakakakakakakaka\u00e9', false], ['kakakakakakakaka\n', false]
  ])('is_nonce(%j) = %s', (n, ok) => {
    expect(isNonce(n)).toBe(ok)
  })

  it.each([
    ['', 60], ['fast', 1], ['FaSt', 1], ['secure', 40], ['SECURE', 40], ['1', 1], ['100', 100], ['150', 150],
    ['50abc', 50], ['50.9', 50], ['1e2', 100], ['0', null], ['-1', null], ['abc', null], ['.5', null], ['fast1', null]
  ])('sl=%j → %s', (sl, level) => {
    expect(parseSl(sl)).toBe(level)
  })

  it.each([['', true], ['0', true], ['10', true], ['-1', false], ['1.5', false], ['abc', false], ['1e2', false]])(
    'timeout=%j valid: %s', (t, ok) => {
      expect(isTimeoutValid(t)).toBe(ok)
    })

  it.each([['1', true], ['01', true], ['1.0', true], ['1abc', false], ['0', false]])('timestamp=%j: %s', (t, on) => {
    expect(isTimestampRequested(t)).toBe(on)
  })
})

describe('OTP normalisation as yubikey-val does it', () => {
  const dvorak = (s: string): string => [...s].map((c) => 'jxe.uidchtnbpygk'['cbdefghijklnrtuv'.indexOf(c)]).join('')
  it.each([
    [OTP.toUpperCase(), OTP],
    [dvorak(OTP), OTP],
    [dvorak(OTP).toUpperCase(), OTP],
    ['c'.repeat(44), 'i'.repeat(44)], // the modhex-without-f/l/r/v gotcha
    [`${dvorak(OTP)}\n`, `${OTP}\n`], // PHP's $ also matches before a final newline
    ['Hello', 'hello']
  ])('%j → %j', (raw, normalised) => {
    expect(normaliseRequestOtp(raw)).toBe(normalised)
  })

  it.each([
    [OTP, true], [OTP.slice(12), true], [`cccc${OTP}`, true], [`ccccc${OTP}`, false], [OTP.slice(13), false],
    [OTP.toUpperCase(), false], [`${OTP}\n`, true], [`${OTP.slice(1)}\n`, true], [`${OTP.slice(13)}\n`, true], [`${OTP.slice(14)}\n`, false], [`${'c'.repeat(48)}\n`, false],
    [`${OTP}\n\n`, false], ['\n', false], ['', false]
  ])('is_otp(%j) = %s', (otp, ok) => {
    expect(isRequestOtp(otp)).toBe(ok)
  })
})
