import { describe, expect, it } from 'vitest'
import { KSM_FAILURE_REASONS, STATUS_OF_REASON } from '../../src/outcome.js'
import {
  EMPTY, INACTIVE_SECRET, KEY, NONCE, OTP1, OTP2, OTP3, expectSignedWith, fixture, hmac, parseBody, setup,
  signString, signedQuery
} from './helpers.js'
import { CHECK_ORDER_ROWS } from './check-order-table.js'

const base = `id=1&otp=${OTP1}&nonce=${NONCE}`

describe('verify v2: reference §1.4 check order, statuses and signing keys', () => {
  const rows = CHECK_ORDER_ROWS
  it.each(rows)('$name → $status ($reason)', async (row) => {
    const { verify } = setup()
    const out = await verify(row.q)
    expect([out.status, out.reason]).toEqual([row.status, row.reason])
    const p = expectSignedWith(out.body, row.key === 'client' ? KEY : EMPTY)
    expect(p.status).toBe(row.status)
    if (row.status !== 'OK') expect(p.extras).toEqual([])
  })

  it('an unknown or inactive client id signs early errors with the empty key, never another key', async () => {
    const { verify } = setup()
    const out = await verify('id=2')
    expectSignedWith(out.body, EMPTY)
    expect(parseBody(out.body).h).not.toBe(hmac(signString([['status', 'MISSING_PARAMETER'], ['t', parseBody(out.body).t]]), Buffer.from(INACTIVE_SECRET, 'base64')))
  })

  it('does not look the client up when the id is unusable, nor ids beyond the 32-bit column', async () => {
    const s = setup()
    await s.verify('id=abc')
    expect(s.clients.calls).toBe(0)
    const out = await s.verify(`id=9999999999&otp=${OTP1}&nonce=${NONCE}`)
    expect(out.status).toBe('NO_SUCH_CLIENT')
    expect(s.clients.calls).toBe(0)
    expect(out.clientId).toBe(9999999999)
  })

  it('7: client store down → BACKEND_ERROR db_unavailable, empty key', async () => {
    const s = setup()
    s.clients.fail = true
    const out = await s.verify(base)
    expect([out.status, out.reason]).toEqual(['BACKEND_ERROR', 'db_unavailable'])
    expect(out.detail).toContain('ECONNREFUSED')
    expectSignedWith(out.body, EMPTY)
    expect(s.ksm.calls).toEqual([])
  })

  it('an early parameter error keeps its status when the client store is down (empty key)', async () => {
    const s = setup()
    s.clients.fail = true
    for (const [q, status] of [[`id=1&otp=${OTP1}`, 'MISSING_PARAMETER'], [`id=1&nonce=${NONCE}`, 'BAD_OTP']] as const) {
      const out = await s.verify(q)
      expect(out.status).toBe(status)
      expectSignedWith(out.body, EMPTY)
    }
  })

  it('a bad signature is reported before the KSM is asked', async () => {
    const s = setup()
    const out = await s.verify(`id=1&otp=${'cccccccccccb' + OTP1.slice(12)}&nonce=${NONCE}&h=AAAAAAAAAAAAAAAAAAAAAAAAAAA=`)
    expect(out.status).toBe('BAD_SIGNATURE')
    expect(s.ksm.calls).toEqual([])
  })

  it.each(KSM_FAILURE_REASONS.map((r) => [r, STATUS_OF_REASON[r]]))('11: KSM %s → %s, client key, no extras', async (reason, status) => {
    const s = setup()
    s.ksm.failures.set(OTP1, reason)
    const out = await s.verify(base)
    expect([out.status, out.reason]).toEqual([status, reason])
    expect(out.detail).toBe(`fake ${reason}`)
    expect(expectSignedWith(out.body, KEY).extras).toEqual([])
    expect(s.yubikeys.acceptCalls).toBe(0)
  })

  it('11: a KSM that throws → BACKEND_ERROR internal_error', async () => {
    const s = setup()
    s.ksm.failures.set(OTP1, 'throw')
    const out = await s.verify(base)
    expect([out.status, out.reason]).toEqual(['BACKEND_ERROR', 'internal_error'])
    expectSignedWith(out.body, KEY)
  })
})

describe('verify v2: the field-presence matrix (§1.6) and replay classification', () => {
  it('OK: otp, nonce, sl=100 in that order; timestamp extras only when timestamp==1', async () => {
    const s = setup()
    let p = expectSignedWith((await s.verify(base)).body, KEY)
    expect(p.extras).toEqual([['otp', OTP1], ['nonce', NONCE], ['sl', '100']])
    p = expectSignedWith((await s.verify(`id=1&otp=${OTP2}&nonce=${NONCE}&timestamp=1`)).body, KEY)
    expect(p.extras).toEqual([['otp', OTP2], ['nonce', NONCE], ['sl', '100'],
      ['timestamp', String((0x0a << 16) + 0x1b3c)], ['sessioncounter', '1'], ['sessionuse', '1']])
  })

  it('timestamp extras carry the full field ranges', async () => {
    const s = setup()
    const otp = fixture('credtivccccc-otp4')
    const p = parseBody((await s.verify(`id=1&otp=${otp}&nonce=${NONCE}&timestamp=1`)).body)
    expect(p.extras.slice(3)).toEqual([['timestamp', '16777215'], ['sessioncounter', '32767'], ['sessionuse', '255']])
  })

  it.each([
    ['1', true], ['01', true], ['1.0', true], ['%201', true], ['1e0', true], ['+1', true], ['1%20', true],
    ['1abc', false], ['2', false], ['0', false], ['true', false], ['', false], ['0x1', false]
  ])('timestamp=%s → extras %s', async (value, present) => {
    const s = setup()
    const p = parseBody((await s.verify(`${base}&timestamp=${value}`)).body)
    expect(p.status).toBe('OK')
    expect(p.extras.some(([k]) => k === 'timestamp')).toBe(present)
  })

  it('REPLAYED_REQUEST for the same OTP and nonce, REPLAYED_OTP for another nonce or an older OTP', async () => {
    const s = setup()
    expect((await s.verify(base)).status).toBe('OK')
    let out = await s.verify(base)
    expect([out.status, out.reason]).toEqual(['REPLAYED_REQUEST', 'replayed_request'])
    expect(expectSignedWith(out.body, KEY).extras).toEqual([['otp', OTP1], ['nonce', NONCE]])
    out = await s.verify(`id=1&otp=${OTP1}&nonce=bakabakabakabaka`)
    expect([out.status, out.reason]).toEqual(['REPLAYED_OTP', 'replayed_otp'])
    expect(expectSignedWith(out.body, KEY).extras).toEqual([['otp', OTP1], ['nonce', 'bakabakabakabaka']])
    expect((await s.verify(`id=1&otp=${OTP3}&nonce=${NONCE}`)).status).toBe('OK')
    out = await s.verify(`id=1&otp=${OTP2}&nonce=${NONCE}`) // older (counter 1) after counter 0x102
    expect(out.status).toBe('REPLAYED_OTP')
    out = await s.verify(`id=1&otp=${OTP3}&nonce=${NONCE}`) // same OTP and nonce as the stored row
    expect(out.status).toBe('REPLAYED_REQUEST')
  })

  it('a disabled key → BAD_OTP key_disabled, client key, counters untouched', async () => {
    const s = setup()
    expect((await s.verify(base)).status).toBe('OK')
    const row = s.yubikeys.rows.get('ccftftftcccc')!
    row.active = false
    const before = { ...row }
    // Even the exact replay reports the disabled key first, as yubikey-val checks `active` first.
    for (const q of [base, `id=1&otp=${OTP2}&nonce=${NONCE}`]) {
      const out = await s.verify(q)
      expect([out.status, out.reason]).toEqual(['BAD_OTP', 'key_disabled'])
      expect(expectSignedWith(out.body, KEY).extras).toEqual([])
    }
    expect(s.yubikeys.rows.get('ccftftftcccc')).toEqual(before)
  })

  it('the yubikey store throwing → BACKEND_ERROR db_unavailable (never OK)', async () => {
    const s = setup()
    s.yubikeys.fail = true
    const out = await s.verify(base)
    expect([out.status, out.reason]).toEqual(['BACKEND_ERROR', 'db_unavailable'])
    expect(expectSignedWith(out.body, KEY).extras).toEqual([])
  })

  it('a refusal without an explaining row is retried once; twice → BACKEND_ERROR internal_error', async () => {
    let s = setup()
    s.yubikeys.lies = [null]
    expect((await s.verify(base)).status).toBe('OK')
    expect(s.yubikeys.acceptCalls).toBe(2)

    s = setup()
    const lower = { publicId: 'ccftftftcccc', active: true, created: 0, modified: 0, counter: 0, use: 0, low: 0, high: 0, nonce: 'x', notes: '' }
    s.yubikeys.lies = [null, lower]
    const out = await s.verify(base)
    expect([out.status, out.reason]).toEqual(['BACKEND_ERROR', 'internal_error'])
    expect(s.yubikeys.acceptCalls).toBe(2)
    expect(s.yubikeys.rows.size).toBe(0)
  })

  it('passes the decrypted counters, the request nonce and the time to the store', async () => {
    const s = setup()
    await s.verify(`id=1&otp=${OTP3}&nonce=${NONCE}`)
    expect(s.yubikeys.rows.get('ccftftftcccc')).toMatchObject({
      counter: 0x0102, use: 6, low: 0x0405, high: 3, nonce: NONCE, modified: Date.parse('2020-01-01T00:00:00Z') / 1000
    })
  })
})

describe('verify: OTP normalisation and parameter clean-up', () => {
  const dvorak = (otp: string): string => [...otp].map((c) => 'jxe.uidchtnbpygk'['cbdefghijklnrtuv'.indexOf(c)]).join('')

  it('upper case: the normalised OTP is validated, decrypted and echoed; the raw one is signed', async () => {
    const s = setup()
    const out = await s.verify(signedQuery([['id', '1'], ['otp', OTP1.toUpperCase()], ['nonce', NONCE]]))
    expect(out.status).toBe('OK')
    expect(s.ksm.calls).toEqual([OTP1])
    expect(parseBody(out.body).extras[0]).toEqual(['otp', OTP1])
  })

  it('a signature over the normalised OTP instead of the raw one fails', async () => {
    const s = setup()
    const h = hmac(signString([['id', '1'], ['otp', OTP1], ['nonce', NONCE]]), KEY)
    const out = await s.verify(`id=1&otp=${OTP1.toUpperCase()}&nonce=${NONCE}&h=${encodeURIComponent(h)}`)
    expect(out.status).toBe('BAD_SIGNATURE')
  })

  it('US-Dvorak input is translated to modhex (also when upper case)', async () => {
    const s = setup()
    const typed = dvorak(OTP1)
    expect(typed).not.toBe(OTP1)
    const out = await s.verify(`id=1&otp=${encodeURIComponent(typed.toUpperCase())}&nonce=${NONCE}`)
    expect(out.status).toBe('OK')
    expect(parseBody(out.body).extras[0]).toEqual(['otp', OTP1])
  })

  it('the gotcha: modhex without f/l/r/v is taken for Dvorak and translated', async () => {
    const s = setup()
    const out = await s.verify(`id=1&otp=${'c'.repeat(44)}&nonce=${NONCE}`)
    expect(s.ksm.calls).toEqual(['i'.repeat(44)])
    expect([out.status, out.reason]).toEqual(['BAD_OTP', 'unknown_key'])
  })

  it('trim and backslash removal apply to the used copies, the signature covers the raw values', async () => {
    const s = setup()
    const rawOtp = ` \t${OTP1.slice(0, 10)}\\${OTP1.slice(10)}\n`
    const rawNonce = `kaka\\kakakakakakakakakaka\\ `
    const out = await s.verify(signedQuery([['id', ' 1 '], ['otp', rawOtp], ['nonce', rawNonce]]))
    expect(out.status).toBe('OK')
    expect(parseBody(out.body).extras.slice(0, 2)).toEqual([['otp', OTP1], ['nonce', NONCE]])
  })

  it('"<otp>\\n\\\\" passes the format check as in PHP (regex $) and fails at the KSM step', async () => {
    const s = setup()
    const q = `otp=${OTP1}%0A%5C&nonce=${NONCE}`
    expect((await s.verify(`id=3&${q}`)).status).toBe('NO_SUCH_CLIENT')
    const out = await s.verify(`id=1&${q}`)
    expect([out.status, out.reason]).toEqual(['BAD_OTP', 'bad_otp_format'])
    expectSignedWith(out.body, KEY)
    expect(s.ksm.calls).toEqual([])
  })
})

describe('verify: request signatures', () => {
  it('reference §2.3 request vector, h percent-encoded → accepted (the unknown OTP then fails at the KSM)', async () => {
    const s = setup()
    const otp = 'idkfefrdhtrutjduvtcjbfeuvhehdvjjlbchtlenfgku'
    const out = await s.verify(`id=1&nonce=${NONCE}&otp=${otp}&h=ehhpPyH9W%2FuL5v%2F1XGd52oN8yMg%3D`)
    expect([out.status, out.reason]).toEqual(['BAD_OTP', 'unknown_key'])
    expect(out.signed).toBe(true)
    expect(s.ksm.calls).toEqual([otp])
  })

  it('h sent with unencoded "/" and "=" still works; h with a "+" sent raw becomes a space and fails', async () => {
    const s = setup()
    expect((await s.verify(`id=1&nonce=${NONCE}&otp=${OTP1}&h=ehhpPyH9W/uL5v/1XGd52oN8yMg=`)).status).toBe('BAD_SIGNATURE')
    // Find a nonce whose signature has a '+' in the middle (deterministic search).
    let nonce = ''
    let h = ''
    for (let i = 0; !/^[^+].*\+.*[^+]$/.test(h); i++) {
      nonce = `kakakakakakakaka${i}`
      h = hmac(signString([['id', '1'], ['nonce', nonce], ['otp', OTP1]]), KEY)
    }
    const q = `id=1&nonce=${nonce}&otp=${OTP1}`
    expect((await s.verify(`${q}&h=${h}`)).status).toBe('BAD_SIGNATURE')
    expect((await s.verify(`${q}&h=${encodeURIComponent(h)}`)).status).toBe('OK')
  })

  it('unknown extra parameters, random order and h in the middle are all covered', async () => {
    const s = setup()
    const pairs: Array<[string, string]> = [['zeta', 'last'], ['otp', OTP1], ['Alpha', 'upper-case sorts first'],
      ['timestamp', '1'], ['nonce', NONCE], ['id', '1'], ['empty', '']]
    const out = await s.verify(signedQuery(pairs, KEY, 3))
    expect(out.status).toBe('OK')
    // Dropping an unknown parameter breaks the signature.
    const tampered = signedQuery(pairs, KEY, 3).replace('zeta=last&', '')
    expect(tampered).not.toContain('zeta')
    expect((await setup().verify(tampered)).status).toBe('BAD_SIGNATURE')
  })

  it('non-ASCII values are double-encoded (utf8_encode over the UTF-8 bytes)', async () => {
    const s = setup()
    const q = `id=1&nonce=${NONCE}&otp=${OTP1}&x=%C3%A9`
    const phpWay = hmac(`id=1&nonce=${NONCE}&otp=${OTP1}&x=\u00c3\u00a9`, KEY) // each byte as Latin-1
    const naive = hmac(`id=1&nonce=${NONCE}&otp=${OTP1}&x=é`, KEY)
    expect(phpWay).not.toBe(naive)
    expect((await s.verify(`${q}&h=${encodeURIComponent(naive)}`)).status).toBe('BAD_SIGNATURE')
    expect((await s.verify(`${q}&h=${encodeURIComponent(phpWay)}`)).status).toBe('OK')
  })

  it('array parameters are signed as key[0]=v', async () => {
    const s = setup()
    const h = hmac(`id=1&nonce=${NONCE}&otp=${OTP1}&x[0]=a&x[1]=b`, KEY)
    const out = await s.verify(`x[]=a&id=1&nonce=${NONCE}&otp=${OTP1}&x[]=b&h=${encodeURIComponent(h)}`)
    expect(out.status).toBe('OK')
  })

  it('signs with a secret decoded like PHP base64_decode (invalid characters skipped)', async () => {
    const s = setup()
    s.clients.add(7, `EHmo8FMx\nuhum-BlTinC4uYL0M gwg=`)
    const q = signedQuery([['id', '7'], ['otp', OTP1], ['nonce', NONCE]], KEY)
    const out = await s.verify(q)
    expect(out.status).toBe('OK')
    expectSignedWith(out.body, KEY)
  })
})

describe('verify v1 (/wsapi/verify): reference §1.5', () => {
  const v1 = '/wsapi/verify'

  it('OK has no otp/nonce/sl; timestamp extras only when asked', async () => {
    const s = setup()
    let out = await s.verify(`id=1&otp=${OTP1}`, v1)
    expect(out.protocol).toBe(1)
    expect([out.status, expectSignedWith(out.body, KEY).extras]).toEqual(['OK', []])
    out = await s.verify(`id=1&otp=${OTP2}&timestamp=1`, v1)
    expect(expectSignedWith(out.body, KEY).extras).toEqual([['timestamp', String((0x0a << 16) + 0x1b3c)], ['sessioncounter', '1'], ['sessionuse', '1']])
  })

  it('nonce, sl and timeout are never read; the server nonce is stored', async () => {
    const s = setup()
    const out = await s.verify(`id=1&otp=${OTP1}&nonce=0&sl=0&timeout=x`, v1)
    expect(out.status).toBe('OK')
    expect(s.yubikeys.rows.get('ccftftftcccc')!.nonce).toMatch(/^[0-9a-f]{32}$/)
  })

  it('a replay of the same request is REPLAYED_OTP (fresh server nonce), without otp/nonce', async () => {
    const s = setup()
    await s.verify(`id=1&otp=${OTP1}`, v1)
    const out = await s.verify(`id=1&otp=${OTP1}`, v1)
    expect([out.status, expectSignedWith(out.body, KEY).extras]).toEqual(['REPLAYED_OTP', []])
  })

  it.each([
    ['otp missing', 'id=1', 'BAD_OTP', 'client'],
    ['bad id', `id=0&otp=${OTP1}`, 'MISSING_PARAMETER', 'empty'],
    ['unknown client', `id=3&otp=${OTP1}`, 'NO_SUCH_CLIENT', 'empty'],
    ['inactive client', `id=2&otp=${OTP1}`, 'NO_SUCH_CLIENT', 'empty'],
    ['bad signature', `id=1&otp=${OTP1}&h=x`, 'BAD_SIGNATURE', 'client'],
    ['unknown key', `id=1&otp=${'cccccccccccb' + OTP1.slice(12)}`, 'BAD_OTP', 'client']
  ])('%s (%s) → %s', async (_name, q, status, key) => {
    const out = await setup().verify(q, v1)
    expect(out.status).toBe(status)
    expect(expectSignedWith(out.body, key === 'client' ? KEY : EMPTY).extras).toEqual([])
  })

  it('a disabled key is BAD_OTP in v1 too', async () => {
    const s = setup()
    await s.verify(`id=1&otp=${OTP1}`, v1)
    s.yubikeys.rows.get('ccftftftcccc')!.active = false
    expect((await s.verify(`id=1&otp=${OTP2}`, v1)).reason).toBe('key_disabled')
  })

  it('oddities of URL detection: /wsapi/1.1/ is v1, /wsapi/3.0/ and /wsapi/0.20/ are v2', async () => {
    expect((await setup().verify(`id=1&otp=${OTP1}`, '/wsapi/1.1/verify')).status).toBe('OK')
    expect((await setup().verify(`id=1&otp=${OTP1}`, '/wsapi/3.0/verify')).status).toBe('MISSING_PARAMETER')
    expect((await setup().verify(`id=1&otp=${OTP1}`, '/wsapi/0.20/verify')).status).toBe('MISSING_PARAMETER')
  })
})

describe('verify: what the outcome exposes for logging', () => {
  it('client id, public id, signed flag; never the OTP or the secret outside the body', async () => {
    const s = setup()
    const out = await s.verify(signedQuery([['id', '1'], ['otp', OTP1], ['nonce', NONCE]]))
    expect(out).toMatchObject({ status: 'OK', reason: 'ok', clientId: 1, publicId: 'ccftftftcccc', signed: true, detail: null })
    expect(out.durationMs).toBeGreaterThanOrEqual(0)
    const { body, ...loggable } = out
    expect(body).toContain(OTP1)
    const text = JSON.stringify(loggable)
    expect(text).not.toContain(OTP1.slice(12))
    expect(text).not.toContain(SECRET_B64)
  })

  it('unknown fields are null for malformed requests', async () => {
    const out = await setup().verify('id=abc&otp=xyz&nonce=0')
    expect(out).toMatchObject({ clientId: null, publicId: null, signed: false })
  })
})

const SECRET_B64 = 'EHmo8FMxuhumBlTinC4uYL0Mgwg='
