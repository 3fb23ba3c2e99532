// Forged, replayed and spliced requests, one by one, with the answers the protocol prescribes — and the
// response side: what a client checks (signature over status, otp and nonce) catches a response that
// was meant for another request.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { parseResponse, responseSignatureOk, sign } from '../helpers/wsapi-client.js'
import { FastOtps, startInProcess, type InProcess } from './helpers/in-process.js'

describe('forgery and replay of verify requests', () => {
  let env: InProcess
  let otps: FastOtps
  let client: { id: number, key: string }

  beforeAll(async () => {
    env = await startInProcess({ keyCount: 1 })
    client = env.inst.client
    otps = new FastOtps(env.inst.keys[0]!)
  }, 120_000)
  afterAll(async () => {
    await env?.close()
  })

  interface Signed { id: string, otp: string, nonce: string, h: string }
  function signed (otp: string, nonce: string, key = client.key): Signed {
    const p = { id: String(client.id), otp, nonce }
    return { ...p, h: sign(p, key) }
  }
  async function get (params: Signed | Record<string, string>): Promise<Record<string, string>> {
    const res = await env.app.inject({ method: 'GET', url: `/wsapi/2.0/verify?${new URLSearchParams({ ...params }).toString()}` })
    expect(res.statusCode).toBe(200)
    const fields = parseResponse(res.body)
    expect(responseSignatureOk(fields, client.key)).toBe(true)
    return fields
  }

  it('a wrong h is BAD_SIGNATURE and does not spend the OTP', async () => {
    const { otp } = otps.next()
    const forged = signed(otp, 'wronghwronghwrongh', Buffer.alloc(20, 1).toString('base64'))
    expect((await get(forged)).status).toBe('BAD_SIGNATURE')
    expect((await get({ ...signed(otp, 'wronghwronghwrongh'), h: forged.h.replace(/^./, (c) => c === 'A' ? 'B' : 'A') })).status).toBe('BAD_SIGNATURE')
    expect((await get(signed(otp, 'wronghwronghwrongh'))).status).toBe('OK')
  })

  it('the same request again is REPLAYED_REQUEST; the same OTP with another nonce is REPLAYED_OTP', async () => {
    const { otp } = otps.next()
    const request = signed(otp, 'replayreplayreplay')
    const first = await get(request)
    expect(first.status).toBe('OK')
    const again = await get(request)
    expect(again).toMatchObject({ status: 'REPLAYED_REQUEST', otp, nonce: 'replayreplayreplay' })
    expect((await get(signed(otp, 'anotheranotheranother'))).status).toBe('REPLAYED_OTP')
    // Unsigned, too: the signature is optional, replay protection is not.
    expect((await get({ id: String(client.id), otp, nonce: 'unsignedunsigned' })).status).toBe('REPLAYED_OTP')
  })

  it('OTP and nonce spliced between two signed requests: BAD_SIGNATURE, and neither OTP is spent', async () => {
    const a = signed(otps.next().otp, 'requestArequestA')
    const b = signed(otps.next().otp, 'requestBrequestB')
    for (const splice of [
      { ...a, nonce: b.nonce }, // A's OTP and h, B's nonce
      { ...a, nonce: b.nonce, h: b.h }, // A's OTP, B's nonce and h
      { ...b, otp: a.otp } // B's nonce and h, A's OTP
    ]) expect((await get(splice)).status).toBe('BAD_SIGNATURE')
    // The legitimate requests still work, in counter order (b was made after a).
    expect((await get(a)).status).toBe('OK')
    expect((await get(b)).status).toBe('OK')
  })

  it('a response for one request does not pass a client check for another', async () => {
    const a = signed(otps.next().otp, 'responseAresponseA')
    const b = signed(otps.next().otp, 'responseBresponseB')
    const okA = await get(a)
    expect(okA.status).toBe('OK')
    // A client that sent b checks otp and nonce in the answer: A's answer names A's.
    expect([okA.otp, okA.nonce]).toEqual([a.otp, a.nonce])
    expect([okA.otp, okA.nonce]).not.toEqual([b.otp, b.nonce])
    // Rewriting the echo to fit b breaks the response signature; so does rewriting the status.
    expect(responseSignatureOk({ ...okA, otp: b.otp, nonce: b.nonce }, client.key)).toBe(false)
    const replayedA = await get(a)
    expect(responseSignatureOk({ ...replayedA, status: 'OK' }, client.key)).toBe(false)
  })
})
