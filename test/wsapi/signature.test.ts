import { createHmac } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { parseQueryString } from '../../src/wsapi/query-parse.js'
import { buildResponse } from '../../src/wsapi/response.js'
import {
  buildSignString, decodeClientSecret, signParams, signaturesEqual, verifyRequestSignature
} from '../../src/wsapi/signature.js'

const SECRET = 'EHmo8FMxuhumBlTinC4uYL0Mgwg='
const KEY = decodeClientSecret(SECRET)
const NONCE = 'kakakakakakakakakakakaka'
const OTP = 'idkfefrdhtrutjduvtcjbfeuvhehdvjjlbchtlenfgku'
const T = new Date('2020-01-01T00:00:00.123Z')

describe('reference §2.3 test vectors', () => {
  it('empty key, MISSING_PARAMETER response', () => {
    expect(signParams([['status', 'MISSING_PARAMETER'], ['t', '2020-01-01T00:00:00Z0123']], Buffer.alloc(0)))
      .toBe('JBnHeTT/smjrHVFfeySPQul1bn8=')
    expect(buildResponse({ status: 'MISSING_PARAMETER' }, Buffer.alloc(0), T))
      .toBe('h=JBnHeTT/smjrHVFfeySPQul1bn8=\r\nt=2020-01-01T00:00:00Z0123\r\nstatus=MISSING_PARAMETER\r\n\r\n')
  })

  it('client key, OK response with otp, nonce, sl', () => {
    const body = buildResponse({ status: 'OK', extras: [['otp', OTP], ['nonce', NONCE], ['sl', '0']] }, KEY, T)
    expect(body).toBe(`h=+X2/58cNjJuXHrFfAuxi1Js11rA=\r\nt=2020-01-01T00:00:00Z0123\r\notp=${OTP}\r\nnonce=${NONCE}\r\n` +
      'sl=0\r\nstatus=OK\r\n\r\n')
  })

  it('client key, request id/nonce/otp, in any order, h percent-encoded anywhere', () => {
    const h = 'ehhpPyH9W/uL5v/1XGd52oN8yMg='
    expect(signParams(parseQueryString(`otp=${OTP}&id=1&nonce=${NONCE}`).entries, KEY)).toBe(h)
    for (const raw of [
      `id=1&nonce=${NONCE}&otp=${OTP}&h=ehhpPyH9W%2FuL5v%2F1XGd52oN8yMg%3D`,
      `h=ehhpPyH9W%2FuL5v%2F1XGd52oN8yMg%3D&otp=${OTP}&id=1&nonce=${NONCE}`,
      `otp=${OTP}&h=ehhpPyH9W/uL5v/1XGd52oN8yMg=&nonce=${NONCE}&id=1`
    ]) {
      const p = parseQueryString(raw)
      expect(verifyRequestSignature(p, (p.entries.get('h') as string), KEY)).toBe(true)
    }
    const extra = parseQueryString(`id=1&nonce=${NONCE}&otp=${OTP}&foo=bar`)
    expect(verifyRequestSignature(extra, h, KEY)).toBe(false)
  })
})

describe('sign string', () => {
  it('sorts by PHP key order, keeps decoded values unescaped, flattens arrays', () => {
    const p = parseQueryString('timestamp=1&timeout=5&a+b=x%26y%3Dz&Z=%2B+&arr[]=1&arr[k]=2&empty=')
    expect(buildSignString(p.entries)).toBe('Z=+ &a_b=x&y=z&arr[0]=1&arr[k]=2&empty=&timeout=5&timestamp=1')
  })

  it('utf8_encode: every byte ≥ 0x80 is re-encoded as a Latin-1 character', () => {
    const p = parseQueryString('x=%C3%A9&y=%FF')
    const expected = createHmac('sha1', KEY).update(Buffer.from('x=\u00c3\u0083\u00c2\u00a9&y=\u00c3\u00bf', 'latin1')).digest('base64')
    expect(signParams(p.entries, KEY)).toBe(expected)
  })
})

describe('PHP non-strict base64_decode of client secrets', () => {
  it.each([
    [SECRET, Buffer.from(SECRET, 'base64').toString('hex')],
    ['EHmo8FMx\nuhum-BlTi nC4uYL0Mgwg=', Buffer.from(SECRET, 'base64').toString('hex')],
    ['', ''],
    ['QQ', '41'],
    ['QQ==QQ', '410410'],
    ['Q', ''],
    ['_-*!', ''],
    ['QUJD', '414243']
  ])('%j → %s', (b64, hex) => {
    expect(decodeClientSecret(b64).toString('hex')).toBe(hex)
  })
})

describe('constant-time compare of base64 strings', () => {
  it('is exact and case-sensitive; lengths must match', () => {
    expect(signaturesEqual('abc=', 'abc=')).toBe(true)
    expect(signaturesEqual('abc=', 'ABC=')).toBe(false)
    expect(signaturesEqual('abc=', 'abc')).toBe(false)
    expect(signaturesEqual('abc=', '')).toBe(false)
  })
})
