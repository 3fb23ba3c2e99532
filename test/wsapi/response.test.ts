import { describe, expect, it } from 'vitest'
import { buildResponse, formatTimestamp } from '../../src/wsapi/response.js'
import { signParams } from '../../src/wsapi/signature.js'

describe('t timestamp', () => {
  it.each([
    ['2008-11-21T06:11:55.711Z', '2008-11-21T06:11:55Z0711'],
    ['2020-01-01T00:00:00.000Z', '2020-01-01T00:00:00Z0000'],
    ['2030-12-31T23:59:59.009Z', '2030-12-31T23:59:59Z0009']
  ])('%s → %s', (iso, t) => {
    expect(formatTimestamp(new Date(iso))).toBe(t)
    expect(t).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z0\d{3}$/)
  })

  it('is UTC whatever the local zone', () => {
    expect(formatTimestamp(new Date(Date.UTC(2021, 5, 7, 8, 9, 10, 11)))).toBe('2021-06-07T08:09:10Z0011')
  })
})

describe('response body', () => {
  it('h, t, extras in insertion order, status, CRLF lines, empty last line; h signs all but h sorted', () => {
    const key = Buffer.from('0123456789abcdef0123', 'latin1')
    const now = new Date('2020-01-01T00:00:00.123Z')
    const extras: Array<[string, string]> = [['otp', 'o'], ['nonce', 'n'], ['sl', '100'], ['timestamp', '662316'],
      ['sessioncounter', '1'], ['sessionuse', '0']]
    const body = buildResponse({ status: 'OK', extras }, key, now)
    const h = signParams([['nonce', 'n'], ['otp', 'o'], ['sessioncounter', '1'], ['sessionuse', '0'], ['sl', '100'],
      ['status', 'OK'], ['t', '2020-01-01T00:00:00Z0123'], ['timestamp', '662316']], key)
    expect(body).toBe(`h=${h}\r\nt=2020-01-01T00:00:00Z0123\r\notp=o\r\nnonce=n\r\nsl=100\r\ntimestamp=662316\r\n` +
      'sessioncounter=1\r\nsessionuse=0\r\nstatus=OK\r\n\r\n')
  })
})
