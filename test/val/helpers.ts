// Shared helpers for the verify tests: a service wired to fakes, and an independent response parser and
// signature checker (plain byte-order sort, written without the code under test).
import { createHmac } from 'node:crypto'
import { expect } from 'vitest'
import { createVerifyService, type VerifyOutcome } from '../../src/val/verify-service.js'
import { protocolVersion } from '../../src/wsapi/params.js'
import { selectRequestParams } from '../../src/wsapi/query-parse.js'
import { FakeClientStore, FakeKsm, FakeYubikeyStore, fixtureOtps } from './fakes.js'

/** yubikey-val's travis client 1. */
export const SECRET = 'EHmo8FMxuhumBlTinC4uYL0Mgwg='
export const KEY = Buffer.from(SECRET, 'base64')
export const INACTIVE_SECRET = 'dGhpcyBpcyBub3QgYWN0aXZlIQ=='
export const EMPTY = Buffer.alloc(0)
export const NONCE = 'kakakakakakakakakakakaka'
export const NOW = new Date('2020-01-01T00:00:00.123Z')

const otps = fixtureOtps()
export function fixture (name: string): string {
  const c = otps.get(name)
  if (c === undefined) throw new Error(`no fixture OTP ${name}`)
  return c.otp
}
export const OTP1 = fixture('ccftftftcccc-otp1')
export const OTP2 = fixture('ccftftftcccc-otp2')
export const OTP3 = fixture('ccftftftcccc-otp3')

export function setup () {
  const ksm = new FakeKsm()
  const clients = new FakeClientStore()
  clients.add(1, SECRET)
  clients.add(2, INACTIVE_SECRET, false)
  const yubikeys = new FakeYubikeyStore()
  let n = 0
  const service = createVerifyService({
    ksm,
    clients,
    yubikeys,
    now: () => NOW,
    randomNonce: () => (++n).toString(16).padStart(32, 'a')
  })
  const verify = (query: string, path = '/wsapi/2.0/verify'): Promise<VerifyOutcome> =>
    service.verify({ protocol: protocolVersion(`${path}?${query}`), params: selectRequestParams(query) })
  return { ksm, clients, yubikeys, service, verify }
}

export interface ParsedBody {
  h: string
  t: string
  status: string
  extras: Array<[string, string]>
}

/** Parses a response body, asserting the exact line structure of reference §2.2. */
export function parseBody (body: string): ParsedBody {
  expect(body.endsWith('\r\n\r\n')).toBe(true)
  const lines = body.slice(0, -4).split('\r\n')
  for (const l of lines) expect(l).toMatch(/^[a-z_]+=/)
  const pairs = lines.map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)] as [string, string])
  expect(pairs[0]![0]).toBe('h')
  expect(pairs[1]![0]).toBe('t')
  expect(pairs[pairs.length - 1]![0]).toBe('status')
  expect(pairs[1]![1]).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z0\d{3}$/)
  return { h: pairs[0]![1], t: pairs[1]![1], status: pairs[pairs.length - 1]![1], extras: pairs.slice(2, -1) }
}

/** HMAC-SHA1 base64 of `message` given as a byte string; utf8_encode = UTF-8 of the byte string. */
export function hmac (message: string, key: Uint8Array): string {
  return createHmac('sha1', key).update(message, 'utf8').digest('base64')
}

/** Sign string of ASCII-named parameters, built the simple way. */
export function signString (pairs: Array<[string, string]>): string {
  return [...pairs].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([k, v]) => `${k}=${v}`).join('&')
}

/** Checks the response `h` with the expected key, independently of the code under test. */
export function expectSignedWith (body: string, key: Uint8Array): ParsedBody {
  const p = parseBody(body)
  const fields: Array<[string, string]> = [['t', p.t], ['status', p.status], ...p.extras]
  expect(p.h).toBe(hmac(signString(fields), key))
  return p
}

/** A signed query string: the parameters in the given order plus h (percent-encoded) at `hAt`. */
export function signedQuery (pairs: Array<[string, string]>, key: Uint8Array = KEY, hAt = pairs.length): string {
  const h = hmac(signString(pairs), key)
  const parts = pairs.map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`)
  parts.splice(hAt, 0, `h=${encodeURIComponent(h)}`)
  return parts.join('&')
}
