// Property-based fuzzing of /wsapi/2.0/verify and /wsapi/verify through app.inject, against a model of
// what may be accepted:
//   - an exact, correctly signed (or unsigned) request with a fresh OTP is OK — also after rewrites that
//     leave PHP's parameter map as it was (order, needless %-escapes, empty pieces, an earlier
//     duplicate that the later value overrides, extra signed parameters, form body instead of query);
//   - the same request with the signature broken by any change (OTP, nonce, id, h, a parameter added,
//     dropped or overridden, nonce/h swapped in from another request) is never OK and does not spend
//     the OTP: the exact request right after it is OK;
//   - anything else (spent OTPs however mutated, random parameters, Unicode, broken %-escapes, arrays,
//     empty and huge values, odd methods, paths and bodies) is never OK.
// Every answer is below HTTP 500, and every verify answer is a well-formed WSAPI body signed with the
// client's key when the id names the active client, else with the empty key.
import fc from 'fast-check'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createClients } from '../../src/db/clients-repository.js'
import { WSAPI_STATUSES } from '../../src/outcome.js'
import { getHttpVal, isClientId } from '../../src/wsapi/params.js'
import { selectRequestParams } from '../../src/wsapi/query-parse.js'
import { parseResponse, responseSignatureOk, sign } from '../helpers/wsapi-client.js'
import { FastOtps, startInProcess, type InProcess } from './helpers/in-process.js'
import { report, size, timeoutFor } from './helpers/scale.js'

const RUNS = size('fuzz_runs', 5000, 100_000)
const MAX_BYTES = 8192

type Pairs = Array<[string, string]>
interface RawRequest { method: string, path: string, query: string | null, body: string | null, contentType: string | null }

/** A small seeded PRNG, so one generated integer drives a whole rewrite (and reproduces with the seed). */
function prng (seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

const MODHEX = 'cbdefghijklnrtuv'
const ALNUM = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789'
const KNOWN = ['id', 'otp', 'nonce', 'h', 'sl', 'timeout', 'timestamp']
const V2 = '/wsapi/2.0/verify'
const V1 = '/wsapi/verify'

/** Percent-encodes like a client would, but escapes some plain characters needlessly (PHP decodes them). */
function encode (s: string, rnd: () => number, rate: number): string {
  let out = ''
  for (const c of s) {
    if (/[A-Za-z0-9]/.test(c) && rnd() < rate) {
      const hex = c.charCodeAt(0).toString(16)
      out += '%' + (rnd() < 0.5 ? hex : hex.toUpperCase())
    } else {
      out += encodeURIComponent(c)
    }
  }
  return out
}

function joinPairs (pairs: Pairs, rnd: () => number, rate: number, emptyPieces: boolean): string {
  const pieces = pairs.map(([k, v]) => `${encode(k, rnd, rate)}=${encode(v, rnd, rate)}`)
  if (!emptyPieces) return pieces.join('&')
  return '&' + pieces.join('&&') + '&'
}

/** Shuffles the pairs, except that repeats of one name keep their order (the last one wins in PHP). */
function shuffle (pairs: Pairs, rnd: () => number): Pairs {
  const a = [...pairs]
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(rnd() * (i + 1))
    ;[a[i], a[j]] = [a[j]!, a[i]!]
  }
  const queues = new Map<string, Pairs>()
  for (const p of pairs) queues.set(p[0], [...(queues.get(p[0]) ?? []), p])
  return a.map(([k]) => queues.get(k)!.shift()!)
}

// ---- arbitraries -------------------------------------------------------------------------------

const nonceArb = fc.stringMatching(/^[A-Za-z0-9]{16,40}$/)
const extraArb = fc.tuple(fc.stringMatching(/^[a-z][a-z0-9_]{0,8}$/).filter((n) => !KNOWN.includes(n)),
  fc.string({ unit: 'grapheme-ascii', maxLength: 20 }))

const baseArb = fc.record({
  v1: fc.boolean(),
  signed: fc.boolean(),
  nonce: nonceArb,
  timestamp: fc.boolean(),
  sl: fc.option(fc.oneof(fc.integer({ min: 1, max: 100 }).map(String), fc.constantFrom('fast', 'secure', 'FAST')), { nil: null }),
  timeout: fc.option(fc.integer({ min: 0, max: 99 }).map(String), { nil: null }),
  extras: fc.uniqueArray(extraArb, { maxLength: 3, selector: ([n]) => n })
})
type Base = typeof baseArb extends fc.Arbitrary<infer T> ? T : never

const rewriteArb = fc.record({
  seed: fc.integer(),
  rate: fc.constantFrom(0, 0, 0.2, 1),
  emptyPieces: fc.boolean(),
  earlierDuplicate: fc.option(fc.tuple(fc.constantFrom(...KNOWN, 'x'), fc.string({ maxLength: 12 })), { nil: null }),
  form: fc.constantFrom('query', 'query', 'form', 'form-charset', 'query+junk-body')
})
type Rewrite = typeof rewriteArb extends fc.Arbitrary<infer T> ? T : never

const TAMPERS = ['otp-char', 'otp-case', 'nonce', 'id', 'h-flip', 'h-other-key', 'h-truncated', 'h-empty-key',
  'add-param', 'drop-param', 'later-duplicate', 'swap-nonce-h'] as const
type Tamper = (typeof TAMPERS)[number]

const odd = fc.oneof(
  fc.string({ maxLength: 40 }),
  fc.string({ unit: 'binary', maxLength: 40 }),
  fc.stringMatching(/^[cbdefghijklnrtuvCBDEFGHIJKLNRTUVxX\\\n ]{0,60}$/),
  fc.stringMatching(/^[0-9+\-. e]{0,14}$/),
  fc.constantFrom('', '0', '00', '-1', '2147483648', '99999999999', 'null', 'undefined', '%', '%zz', '\u0000', '\\'),
  fc.integer({ min: 9000, max: 70_000 }).map((n) => 'c'.repeat(n))
)
const oddName = fc.oneof(fc.constantFrom(...KNOWN, 'otp[]', 'id[0]', 'nonce[a][b]', 'h[]', 'o.tp', 'o tp', 'OTP', 'Id', '__Host-x', ''),
  fc.string({ maxLength: 12 }))
const rawQueryArb = fc.oneof(
  fc.array(fc.tuple(oddName, odd), { maxLength: 8 }).map((pairs) => pairs.map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`).join('&')),
  fc.array(fc.constantFrom('%', '%2', '%G0', '%zz', '%%', '&', '=', '[', ']', '+', 'otp', 'id', 'nonce', 'h', '1', 'c', '\u00e9', '%ff', '%00', '%5B'), { maxLength: 40 }).map((a) => a.join('')),
  fc.string({ unit: 'binary', maxLength: 200 })
)
const METHODS = ['GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS', 'HEAD', 'PROPFIND']
const PATHS = [V2, V1, `${V2}/`, `/${V2}`, '/wsapi/2.0/verify%00', '/WSAPI/2.0/VERIFY', '/wsapi/3.0/verify', '/wsapi/2.0/verify;x',
  '/wsapi/2.0/../2.0/verify', '/wsapi/1.0/verify', '/wsapi/2.0/sync', '/', '/wsapi/%zz/verify', '/wsapi/2.0/verify/extra']
const CONTENT_TYPES = [null, 'application/x-www-form-urlencoded', 'APPLICATION/X-WWW-FORM-URLENCODED; charset=latin1', 'application/json',
  'text/plain', 'multipart/form-data; boundary=x', 'application/octet-stream', ';;;']
const junkArb = fc.record({
  method: fc.oneof({ weight: 6, arbitrary: fc.constantFrom('GET', 'POST') }, { weight: 1, arbitrary: fc.constantFrom(...METHODS) }),
  path: fc.oneof({ weight: 6, arbitrary: fc.constantFrom(V2, V1) }, { weight: 1, arbitrary: fc.constantFrom(...PATHS) },
    { weight: 1, arbitrary: fc.string({ maxLength: 30 }).map((s) => '/' + encodeURIComponent(s)) }),
  query: fc.option(rawQueryArb, { nil: null }),
  body: fc.option(fc.oneof(rawQueryArb, fc.integer({ min: 8000, max: 20_000 }).map((n) => 'otp=' + 'c'.repeat(n))), { nil: null }),
  contentType: fc.constantFrom(...CONTENT_TYPES)
})

const caseArb = fc.oneof(
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('exact' as const), base: baseArb, rewrite: rewriteArb }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('tamper' as const), base: baseArb, rewrite: rewriteArb, tamper: fc.constantFrom(...TAMPERS), seed: fc.integer() }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('spent' as const), base: baseArb, rewrite: rewriteArb, tamper: fc.option(fc.constantFrom(...TAMPERS), { nil: null }), seed: fc.integer(), dropH: fc.boolean() }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('junk' as const), request: junkArb }) }
)

// ---- the test ----------------------------------------------------------------------------------

describe('fuzzing the verify endpoints (app.inject)', () => {
  let env: InProcess
  let client: { id: number, key: string }
  let disabled: { id: number, key: string }
  let otherClientKey: string
  let fresh: FastOtps
  const spent: string[] = []
  const okOtps = new Set<string>()
  const stats: Record<string, number> = {}

  beforeAll(async () => {
    env = await startInProcess({ keyCount: 2 })
    client = env.inst.client
    const [d, o] = await createClients(env.db, { count: 2, now: 1_700_000_000 })
    disabled = { id: d!.id, key: d!.secret }
    otherClientKey = o!.secret
    await env.db.query('UPDATE clients SET active = FALSE WHERE id = $1', [disabled.id])
    fresh = new FastOtps(env.inst.keys[0]!)
  }, 120_000)
  afterAll(async () => {
    await env?.close()
  })

  function baseParams (b: Base, otp: string): Pairs {
    const pairs: Pairs = [['id', String(client.id)], ['otp', otp]]
    if (!b.v1) pairs.push(['nonce', b.nonce])
    if (b.timestamp) pairs.push(['timestamp', '1'])
    if (b.sl !== null) pairs.push(['sl', b.sl])
    if (b.timeout !== null) pairs.push(['timeout', b.timeout])
    return [...pairs, ...b.extras]
  }

  function signPairs (pairs: Pairs, key = client.key): Pairs {
    return [...pairs, ['h', sign(Object.fromEntries(pairs), key)]]
  }

  /** Breaks what the signature covers (or the signature itself), keeping everything else. */
  function tamper (pairs: Pairs, t: Tamper, rnd: () => number): Pairs {
    const out: Pairs = pairs.map(([k, v]) => [k, v])
    const set = (name: string, f: (v: string) => string): void => {
      const i = out.findIndex(([k]) => k === name)
      if (i >= 0) out[i] = [name, f(out[i]![1])]
      else out.push([name, f('')])
    }
    const h = out.find(([k]) => k === 'h')?.[1] ?? sign(Object.fromEntries(out), client.key)
    const unsigned = out.filter(([k]) => k !== 'h')
    switch (t) {
      case 'otp-char': set('otp', (v) => {
        const i = 12 + Math.floor(rnd() * (v.length - 12))
        return v.slice(0, i) + MODHEX[(MODHEX.indexOf(v[i]!) + 1 + Math.floor(rnd() * 15)) % 16] + v.slice(i + 1)
      }); break
      case 'otp-case': set('otp', (v) => v.toUpperCase()); break
      case 'nonce': set('nonce', (v) => v === '' ? 'aaaaaaaaaaaaaaaaaaaa' : v.slice(1) + (v[0] === 'a' ? 'b' : 'a')); break
      case 'id': set('id', () => [String(disabled.id), '0' + String(client.id), String(client.id + 1000), ' ' + String(client.id)][Math.floor(rnd() * 4)]!); break
      case 'h-flip': set('h', (v) => (v[0] === 'A' ? 'B' : 'A') + v.slice(1)); break
      case 'h-other-key': return [...unsigned, ['h', sign(Object.fromEntries(unsigned), otherClientKey)]]
      // (Truncated to nothing it would be an unsigned request, which is allowed.)
      case 'h-truncated': set('h', (v) => v.slice(0, 1 + Math.floor(rnd() * 26))); break
      case 'h-empty-key': return [...unsigned, ['h', sign(Object.fromEntries(unsigned), '')]]
      case 'add-param': {
        // A later value always differs from the signed one (generated sl values have no letter x).
        const added: Array<[string, string]> = [['timestamp', out.some(([k]) => k === 'timestamp') ? '0' : '1'], ['sl', '77x'], ['zz', 'q']]
        return [...unsigned, added[Math.floor(rnd() * 3)]!, ['h', h]]
      }
      case 'drop-param': {
        const candidates = unsigned.filter(([k]) => k !== 'id')
        const drop = candidates[Math.floor(rnd() * candidates.length)]![0]
        return [...unsigned.filter(([k]) => k !== drop), ['h', h]]
      }
      case 'later-duplicate': {
        const [k, v] = unsigned[Math.floor(rnd() * unsigned.length)]!
        return [...out, [k, v + 'x']]
      }
      case 'swap-nonce-h': {
        // nonce and h of another client request (a different OTP) pasted onto this OTP.
        const other = signPairs([['id', String(client.id)], ['otp', spent[0] ?? fresh.next().otp], ['nonce', 'swappedswappedswapped']])
        return [...unsigned.filter(([k]) => k !== 'nonce'), ['nonce', 'swappedswappedswapped'], ['h', other.find(([k]) => k === 'h')![1]]]
      }
    }
    return out
  }

  /** A parameter list as a request, rewritten in ways that leave PHP's parameter map unchanged. */
  function toRequest (pairs: Pairs, path: string, r: Rewrite): RawRequest {
    const rnd = prng(r.seed)
    let list = shuffle(pairs, rnd)
    if (r.earlierDuplicate !== null) list = [r.earlierDuplicate, ...list]
    // An earlier duplicate of a name the request does not otherwise carry would add a parameter.
    if (r.earlierDuplicate !== null && !pairs.some(([k]) => k === r.earlierDuplicate![0])) list = list.slice(1)
    const text = joinPairs(list, rnd, r.rate, r.emptyPieces)
    switch (r.form) {
      case 'form': return { method: 'POST', path, query: null, body: text, contentType: 'application/x-www-form-urlencoded' }
      case 'form-charset': return { method: 'POST', path, query: null, body: text, contentType: 'Application/X-WWW-Form-Urlencoded; charset=UTF-8' }
      case 'query+junk-body': return { method: 'POST', path, query: text, body: 'otp=junk&id=1', contentType: 'application/x-www-form-urlencoded' }
      default: return { method: 'GET', path, query: text, body: null, contentType: null }
    }
  }

  async function send (req: RawRequest): Promise<{ statusCode: number, body: string, fields: Record<string, string> }> {
    const url = req.query === null ? req.path : `${req.path}?${req.query}`
    const res = await env.app.inject({
      method: req.method as 'GET',
      url,
      ...(req.body !== null ? { payload: req.body } : {}),
      ...(req.contentType !== null ? { headers: { 'content-type': req.contentType } } : {})
    })
    expect(res.statusCode, `HTTP status for ${req.method} ${url.slice(0, 200)}`).toBeLessThan(500)
    stats[`http:${res.statusCode}`] = (stats[`http:${res.statusCode}`] ?? 0) + 1
    const out = { statusCode: res.statusCode, body: res.body, fields: res.statusCode === 200 ? parseResponse(res.body) : {} }
    checkAnswer(req, url, out)
    return out
  }

  /** Every verify answer: well-formed, a known status, signed with the key the request's id selects. */
  function checkAnswer (req: RawRequest, url: string, res: { statusCode: number, body: string, fields: Record<string, string> }): void {
    const isVerify = [V2, V1].includes(req.path)
    // A verify request within the size limits gets a WSAPI answer; the only HTTP-level refusal left is
    // Fastify's 415 for a Content-Type header it cannot even parse (";;;").
    if (isVerify && ['GET', 'POST'].includes(req.method) && url.length <= MAX_BYTES && (req.body?.length ?? 0) <= MAX_BYTES) {
      expect([200, 415], url.slice(0, 200)).toContain(res.statusCode)
    }
    if (res.statusCode !== 200 || !isVerify || req.method === 'HEAD') {
      expect([200, 400, 404, 405, 413, 414, 415, 431], url.slice(0, 200)).toContain(res.statusCode)
      return
    }
    expect(res.body, url.slice(0, 200)).toMatch(/^h=[A-Za-z0-9+/]{27}=\r\nt=\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ0\d{3}\r\n(?:[a-z]+=[^\r\n]*\r\n)*status=[A-Z_]+\r\n\r\n$/)
    const status = res.fields.status ?? ''
    expect(WSAPI_STATUSES as readonly string[]).toContain(status)
    const form = req.body !== null && /^application\/x-www-form-urlencoded$/i.test((req.contentType ?? '').split(';')[0]!.trim())
    const params = selectRequestParams(req.query ?? '', form ? req.body : null)
    const id = getHttpVal(params, 'id', '0')
    const key = isClientId(id) && Number(id) === client.id ? client.key : ''
    expect(responseSignatureOk(res.fields, key), `response signed with ${key === '' ? 'the empty key' : 'the client key'}: ${url.slice(0, 200)}`).toBe(true)
    stats[status] = (stats[status] ?? 0) + 1
  }

  it(`${RUNS} generated requests: never 5xx, never a wrong OK, every answer well-formed and signed`, async () => {
    await fc.assert(fc.asyncProperty(caseArb, async (c) => {
      stats[`case:${c.kind}`] = (stats[`case:${c.kind}`] ?? 0) + 1
      if (c.kind === 'junk') {
        const res = await send(c.request)
        expect(res.fields.status).not.toBe('OK')
        return
      }
      const rnd = prng(c.kind === 'exact' ? c.rewrite.seed : c.seed)
      const path = c.base.v1 ? V1 : V2
      if (c.kind === 'spent') {
        if (spent.length === 0) return
        const otp = spent[Math.floor(rnd() * spent.length)]!
        let pairs = c.dropH ? baseParams(c.base, otp) : signPairs(baseParams(c.base, otp))
        if (c.tamper !== null) pairs = tamper(pairs, c.tamper, rnd)
        const res = await send(toRequest(pairs, path, c.rewrite))
        expect(res.fields.status).not.toBe('OK')
        return
      }
      const { otp } = fresh.next()
      const exact = c.base.signed ? signPairs(baseParams(c.base, otp)) : baseParams(c.base, otp)
      if (c.kind === 'tamper') {
        const forged = tamper(signPairs(baseParams(c.base, otp)), c.tamper, rnd)
        const res = await send(toRequest(forged, path, c.rewrite))
        expect(res.fields.status, `tamper ${c.tamper}: ${JSON.stringify(forged)}`).not.toBe('OK')
      }
      const res = await send(toRequest(exact, path, c.rewrite))
      expect(res.fields.status, `exact request after ${c.kind === 'tamper' ? c.tamper : 'nothing'}`).toBe('OK')
      expect(okOtps.has(otp)).toBe(false)
      okOtps.add(otp)
      spent.push(otp)
      if (spent.length > 200) spent.shift()
    }), { numRuns: RUNS })

    // Still serving, and every accepted OTP stays spent.
    const last = fresh.next().otp
    expect((await send(toRequest(signPairs([['id', String(client.id)], ['otp', last], ['nonce', 'afterfuzzafterfuzz']]), V2, { seed: 1, rate: 0, emptyPieces: false, earlierDuplicate: null, form: 'query' }))).fields.status).toBe('OK')
    for (const otp of [...okOtps].slice(-100)) {
      const res = await send({ method: 'GET', path: V2, query: `id=${client.id}&otp=${otp}&nonce=replayreplayreplay`, body: null, contentType: null })
      expect(res.fields.status).toBe('REPLAYED_OTP')
    }
    // The trace log saw every request: it must hold no OTP and no client key.
    const log = env.logText()
    expect(log.length).toBeGreaterThan(0)
    // (Every modhex run of token length in the log, looked up in one pass: the log holds every request.)
    const runs = new Set([...log.matchAll(/[cbdefghijklnrtuv]{32,}/g)].flatMap((m) => [m[0].slice(0, 32), m[0].slice(-32)]))
    const logged = [...okOtps].filter((otp) => runs.has(otp.slice(-32)))
    expect(logged).toEqual([])
    expect(log.includes(client.key)).toBe(false)
    report('fuzz', { runs: RUNS, accepted: okOtps.size, stats })
  }, timeoutFor(RUNS, 10))
})
