// yubikey-val's sync protocol (reference yubikey-val.md §4), as pure functions: the request a peer gets,
// how its answer is read and judged, and the checks an incoming sync request must pass.
import { signaturesEqual, signParams } from '../wsapi/signature.js'
import { ctypeDigit } from '../wsapi/php-string.js'
import { getHttpVal, isNonce, isRequestOtp } from '../wsapi/params.js'
import type { RequestParams } from '../wsapi/query-parse.js'

/** What one sync request tells a peer: the counters of an accepted OTP, or of a key (state messages). */
export interface SyncMessage {
  otp: string
  /** Unix seconds of the accept (yubikey-val's `modified`). */
  modified: number
  publicId: string
  counter: number
  use: number
  high: number
  low: number
  /** The verify request's nonce (not a secret: it is echoed to the client). */
  nonce: string
  /** yubival extension, state messages only: the key's active flag. yubikey-val peers ignore it. */
  active?: boolean | null
}

/** A peer's key state as its OK answer reports it (its values before applying our request). */
export type PeerState = Omit<SyncMessage, 'otp' | 'active'>

/** sync.php's parameters in the order yubikey-val builds the URL (plain concatenation, no escaping). */
export function syncQueryPairs (m: SyncMessage): Array<[string, string]> {
  const pairs: Array<[string, string]> = [
    ['otp', m.otp],
    ['modified', String(m.modified)],
    ['yk_publicname', m.publicId],
    ['yk_counter', String(m.counter)],
    ['yk_use', String(m.use)],
    ['yk_high', String(m.high)],
    ['yk_low', String(m.low)],
    ['nonce', m.nonce]
  ]
  if (m.active !== undefined && m.active !== null) pairs.push(['active', m.active ? '1' : '0'])
  return pairs
}

/**
 * The URL of one sync request. Every value is modhex, digits or alphanumeric, so yubikey-val's
 * unescaped concatenation is also a correct URL. With a sync key, `h` (HMAC-SHA1 over the sorted
 * parameters, as WSAPI request signatures) lets a yubival peer authenticate it.
 */
export function buildSyncUrl (peer: string, m: SyncMessage, key: Uint8Array | null, nowMs: number = Date.now()): string {
  const pairs = syncQueryPairs(m)
  if (key !== null) {
    // signed requests say when they were made, so a captured one cannot be replayed later
    pairs.push(['ts', String(nowMs)])
    pairs.push(['h', encodeURIComponent(signParams(pairs, key))])
  }
  return `${peer}?${pairs.map(([k, v]) => `${k}=${v}`).join('&')}`
}

/** ceil(pool size × sl / 100): how many peers must confirm (sl above 100 asks for more than exist). */
export function requiredAnswers (poolSize: number, sl: number): number {
  return Math.ceil(poolSize * sl / 100)
}

/** The `sl` a verify reports: floor(100 × valid answers / pool size). */
export function reportedSyncLevel (validAnswers: number, poolSize: number): number {
  return poolSize === 0 ? 0 : Math.floor(100 * validAnswers / poolSize)
}

const FIELD = (name: string, value: string): RegExp => new RegExp(`^${name}=(${value})\\r?$`, 'm')
const ANSWER_FIELDS = {
  modified: FIELD('modified', '-1|[0-9]+'),
  publicId: FIELD('yk_publicname', '[cbdefghijklnrtuv]+'),
  counter: FIELD('yk_counter', '-1|[0-9]+'),
  use: FIELD('yk_use', '-1|[0-9]+'),
  high: FIELD('yk_high', '-1|[0-9]+'),
  low: FIELD('yk_low', '-1|[0-9]+'),
  // a row that was reset or imported may have an empty nonce; it then equals no request nonce
  nonce: FIELD('nonce', '[A-Za-z0-9]*')
}
const STATUS_LINE = /^status=([A-Z_]+)\r?$/m

export type PeerAnswer =
  | { kind: 'ok', state: PeerState }
  /** The peer has the key disabled (sync.php's only BAD_OTP). */
  | { kind: 'key_disabled' }
  /** Any other status, or an OK without all fields: not an answer; the message stays queued. */
  | { kind: 'refused', status: string }

/** Reads a peer's answer body with yubikey-val's line-anchored patterns (§4.4). */
export function parseSyncAnswer (body: string): PeerAnswer {
  const status = STATUS_LINE.exec(body)?.[1] ?? 'no status line'
  if (status === 'BAD_OTP') return { kind: 'key_disabled' }
  if (status !== 'OK') return { kind: 'refused', status }
  const get = (re: RegExp): string | undefined => re.exec(body)?.[1]
  const values = {
    modified: get(ANSWER_FIELDS.modified),
    publicId: get(ANSWER_FIELDS.publicId),
    counter: get(ANSWER_FIELDS.counter),
    use: get(ANSWER_FIELDS.use),
    high: get(ANSWER_FIELDS.high),
    low: get(ANSWER_FIELDS.low),
    nonce: get(ANSWER_FIELDS.nonce)
  }
  const { publicId, nonce, modified, counter, use, high, low } = values
  if (publicId === undefined || nonce === undefined || modified === undefined || counter === undefined ||
    use === undefined || high === undefined || low === undefined) {
    return { kind: 'refused', status: 'OK without all counter fields' }
  }
  const nums = [modified, counter, use, high, low].map(Number)
  if (nums.some((n) => !Number.isSafeInteger(n) || n > 2147483647)) return { kind: 'refused', status: 'OK with out-of-range values' }
  const [m, c, u, h, l] = nums as [number, number, number, number, number]
  return { kind: 'ok', state: { modified: m, publicId, counter: c, use: u, high: h, low: l, nonce } }
}

/** Whether a WSAPI-layout answer's `h` signs its other lines with `key` (constant-time compare). */
export function isAnswerSignedWith (body: string, key: Uint8Array): boolean {
  const pairs: Array<[string, string]> = []
  let h = ''
  for (const line of body.split(/\r?\n/)) {
    const i = line.indexOf('=')
    if (i <= 0) continue
    const [k, v] = [line.slice(0, i), line.slice(i + 1)]
    if (k === 'h') h = v
    else pairs.push([k, v])
  }
  return h !== '' && signaturesEqual(signParams(pairs, key), h)
}

/**
 * yubikey-val's judgement of an answer: the peer saw a later OTP, or this very OTP with another
 * request nonce → invalid (the OTP was replayed across the pool); otherwise valid.
 */
export function isValidAnswer (peer: PeerState, m: Pick<SyncMessage, 'counter' | 'use' | 'nonce'>): boolean {
  if (peer.counter > m.counter || (peer.counter === m.counter && peer.use > m.use)) return false
  if (peer.counter === m.counter && peer.use === m.use && peer.nonce !== m.nonce) return false
  return true
}

/** Whether peer counters are higher than ours (then ours are raised to them). */
export function countersHigher (a: { counter: number, use: number }, b: { counter: number, use: number }): boolean {
  return a.counter > b.counter || (a.counter === b.counter && a.use > b.use)
}

const PUBLIC_ID = /^[cbdefghijklnrtuv]{1,16}$/
const REQUIRED = ['modified', 'otp', 'nonce', 'yk_publicname', 'yk_counter', 'yk_use', 'yk_high', 'yk_low'] as const
const isCounterValue = (v: string): boolean => v === '-1' || (ctypeDigit(v) && v.length <= 10)

export type SyncRequestCheck =
  | { ok: true, message: SyncMessage }
  | { ok: false, why: string }

/** sync.php steps 3, 5 and 6 (§4.3): every failure is MISSING_PARAMETER; `why` is for the log. */
export function readSyncRequest (params: RequestParams): SyncRequestCheck {
  const v: Record<string, string> = {}
  for (const name of REQUIRED) {
    v[name] = getHttpVal(params, name, '')
    if (v[name] === '') return { ok: false, why: `${name} is missing or empty` }
  }
  const p = v as Record<(typeof REQUIRED)[number], string>
  if (!ctypeDigit(p.modified) || p.modified.length > 10) return { ok: false, why: 'modified is not a whole number' }
  for (const name of ['yk_counter', 'yk_use', 'yk_high', 'yk_low'] as const) {
    if (!isCounterValue(p[name])) return { ok: false, why: `${name} is not a whole number or -1` }
  }
  if (!isRequestOtp(p.otp)) return { ok: false, why: 'otp is not 32-48 modhex characters' }
  if (!PUBLIC_ID.test(p.yk_publicname)) return { ok: false, why: 'yk_publicname is not 1-16 modhex characters' }
  if (!isNonce(p.nonce)) return { ok: false, why: 'nonce is not 16-40 letters and digits' }
  const active = getHttpVal(params, 'active', '')
  if (active !== '' && active !== '0' && active !== '1') return { ok: false, why: 'active is not 0 or 1' }
  const nums = [p.modified, p.yk_counter, p.yk_use, p.yk_high, p.yk_low].map(Number)
  if (nums.some((n) => n > 2147483647)) return { ok: false, why: 'a counter is out of range' }
  const [modified, counter, use, high, low] = nums as [number, number, number, number, number]
  return {
    ok: true,
    message: {
      otp: p.otp, modified, publicId: p.yk_publicname, counter, use, high, low, nonce: p.nonce,
      active: active === '' ? null : active === '1'
    }
  }
}
