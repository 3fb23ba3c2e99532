// The remote KSM client against stub KSMs on real sockets: one replaying pyhsm's recorded answers, one
// that never answers, one that is down, and a few broken ones.
import http from 'node:http'
import { once } from 'node:events'
import type { AddressInfo } from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { formatKsmOkLine } from '../../src/ksm/ksm.js'
import { createRemoteKsm, parseKsmAnswer } from '../../src/ksm/remote-ksm.js'
import { freePort } from '../helpers/server-process.js'
import { otpCases } from './fixtures.js'

const PREFIX = '/wsapi/decrypt?otp='
const s1 = otpCases().cases.filter((c) => c.server === 'S1' && c.otp !== undefined && c.request.path.startsWith(PREFIX) && c.request.method === 'GET')

interface Stub { url: string, requests: string[], close: () => Promise<void> }

async function stub (handler: (req: http.IncomingMessage, res: http.ServerResponse) => void): Promise<Stub> {
  const requests: string[] = []
  const server = http.createServer((req, res) => { requests.push(req.url ?? ''); handler(req, res) })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}${PREFIX}`,
    requests,
    close: async () => { server.closeAllConnections(); server.close(); await once(server, 'close') }
  }
}

let replay: Stub
let hang: Stub
let down: string
const fixed = async (status: number, body: string): Promise<Stub> => stub((_q, res) => { res.writeHead(status); res.end(body) })
const stubs: Stub[] = []

beforeAll(async () => {
  const answers = new Map(s1.map((c) => [c.request.path, c.response]))
  replay = await stub((req, res) => {
    const a = answers.get(req.url ?? '')
    res.writeHead(a?.status ?? 403, { 'content-type': 'text/html' })
    res.end(a?.body ?? '')
  })
  hang = await stub(() => { /* never answers */ })
  down = `http://127.0.0.1:${await freePort()}${PREFIX}`
  stubs.push(replay, hang)
})
afterAll(async () => { await Promise.all(stubs.map(async (s) => s.close())) })

describe('remote KSM with pyhsm\'s recorded answers', () => {
  const ksm = (): ReturnType<typeof createRemoteKsm> => createRemoteKsm({ urls: [replay.url], timeoutMs: 5000 })

  it.each(s1.map((c) => [c.case, c] as const))('%s', async (_n, c) => {
    const before = replay.requests.length
    const r = await ksm().decrypt(c.otp!)
    const body = c.response.body
    if (body.startsWith('OK ')) {
      expect(r.ok).toBe(true)
      if (r.ok) expect(formatKsmOkLine(r.fields) + '\n').toBe(body)
    } else if (body === 'ERR Invalid OTP\n') {
      // refused before any request: only modhex ever goes into a URL
      expect(r).toMatchObject({ ok: false, reason: 'bad_otp_format' })
      expect(replay.requests.length).toBe(before)
    } else if (body === 'ERR Unknown public_id\n') {
      expect(r).toMatchObject({ ok: false, reason: 'unknown_key' })
    } else {
      expect(body).toBe('ERR\n')
      expect(r).toMatchObject({ ok: false, reason: 'ksm_rejected' })
    }
    if (!r.ok && c.otp!.length >= 32) expect(r.detail).not.toContain(c.otp!.slice(-32))
  })
})

describe('several KSMs, some broken', () => {
  const okOtp = s1.find((c) => c.case === 'credtivccccc-otp1')!
  const unknownOtp = s1.find((c) => c.case === 'N05-unknown-public-id')!.otp!
  const badOtp = s1.find((c) => c.case === 'N03-bad-crc')!.otp!

  it('the first OK wins even when another KSM hangs or is down', async () => {
    const r = await createRemoteKsm({ urls: [hang.url, down, replay.url], timeoutMs: 60_000 }).decrypt(okOtp.otp!)
    expect(r).toMatchObject({ ok: true, publicId: 'credtivccccc' })
    if (r.ok) expect(formatKsmOkLine(r.fields)).toBe(okOtp.ok_line_if_accepted)
  })

  it('a KSM that never answers: ksm_unavailable after the timeout', async () => {
    const r = await createRemoteKsm({ urls: [hang.url], timeoutMs: 200 }).decrypt(okOtp.otp!)
    expect(r).toMatchObject({ ok: false, reason: 'ksm_unavailable' })
    if (!r.ok) expect(r.detail).toContain('no answer in time')
  })

  it('a KSM that is down: ksm_unavailable naming the refused connection', async () => {
    const r = await createRemoteKsm({ urls: [down], timeoutMs: 5000 }).decrypt(okOtp.otp!)
    expect(r).toMatchObject({ ok: false, reason: 'ksm_unavailable' })
    if (!r.ok) expect(r.detail).toContain('ECONNREFUSED')
  })

  it('"unknown" from one KSM while another is down is not the OTP\'s fault; a refusal is', async () => {
    expect(await createRemoteKsm({ urls: [replay.url, down], timeoutMs: 5000 }).decrypt(unknownOtp))
      .toMatchObject({ ok: false, reason: 'ksm_unavailable' })
    expect(await createRemoteKsm({ urls: [replay.url, down], timeoutMs: 5000 }).decrypt(badOtp))
      .toMatchObject({ ok: false, reason: 'ksm_rejected' })
  })

  it('HTTP errors, garbled OK lines and YK-KSM database errors count as unavailable; YK-KSM\'s unknown yubikey as unknown', async () => {
    const cases: Array<[number, string, string]> = [
      [500, 'OK counter=0001 low=1b2c high=0a use=00\n', 'ksm_unavailable'],
      [200, 'OK counter=00001 low=1b2c high=0a use=00\n', 'ksm_unavailable'],
      [200, 'OK counter=0001 low=1b2c high=0a\n', 'ksm_unavailable'],
      [200, '<html>proxy error</html>', 'ksm_unavailable'],
      [200, 'ERR Database error\n', 'ksm_unavailable'],
      [200, 'ERR Unknown yubikey\n', 'unknown_key'],
      [200, 'ERR Corrupt OTP\n', 'ksm_rejected']
    ]
    for (const [status, body, reason] of cases) {
      const s = await fixed(status, body)
      stubs.push(s)
      expect(await createRemoteKsm({ urls: [s.url], timeoutMs: 5000 }).decrypt(okOtp.otp!), body).toMatchObject({ ok: false, reason })
    }
  })

  it('parses the OK line strictly, YK-KSM\'s unpadded hex included', () => {
    expect(parseKsmAnswer('OK counter=1 low=b2c high=a use=0\n')).toEqual({
      ok: true, fields: { counter: 1, timestampLow: 0xb2c, timestampHigh: 10, sessionUse: 0, random: 0, crc: 0 }
    })
    expect(parseKsmAnswer('OK counter=7fff low=ffff high=ff use=ff')).toMatchObject({ ok: true, fields: { counter: 0x7fff, sessionUse: 255 } })
    expect(parseKsmAnswer('OK counter=ABCD low=ffff high=ff use=ff')).toBeUndefined()
    expect(parseKsmAnswer('ERR\n')).toEqual({ ok: false, line: 'ERR' })
  })
})
