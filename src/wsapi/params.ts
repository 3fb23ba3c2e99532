// Reading and validating verify parameters exactly as yubikey-val does (reference §1.1-§1.3).
import { normaliseOtp } from '../otp/otp-string.js'
import { ctypeDigit, phpIntval, phpLooseEquals, phpLooseEqualsOne, phpTrim } from './php-string.js'
import type { RequestParams } from './query-parse.js'

/** Config defaults of yubikey-val that still shape validation. */
export const SYNC_LEVEL_FAST = 1
export const SYNC_LEVEL_SECURE = 40
export const SYNC_LEVEL_DEFAULT = 60
export const SYNC_TIMEOUT_DEFAULT = 1

/**
 * getHttpVal(): the value (or `def` when the name is absent), PHP trim(), then every backslash removed.
 * An array parameter (`otp[]=...`) reads as '' — PHP 7 behaviour; PHP 8 would die with HTTP 500.
 */
export function getHttpVal (params: RequestParams, key: string, def: string): string {
  const v = params.entries.get(key)
  const raw = v === undefined ? def : typeof v === 'string' ? v : ''
  return phpTrim(raw).replaceAll('\\', '')
}

const VERSION_RE = /\/wsapi\/([0-9]+)\.([0-9]+)\//

/**
 * Protocol version from the raw request URI (path and query, not percent-decoded): major + minor * 0.1,
 * 1.0 when there is no `/wsapi/N.M/`. Versions >= 2 get WSAPI 2.0 behaviour.
 */
export function protocolVersion (requestUri: string): number {
  const m = VERSION_RE.exec(requestUri)
  return m ? Number(m[1]) + Number(m[2]) * 0.1 : 1.0
}

export function isProtocolV2 (protocol: number): boolean {
  return protocol >= 2
}

/** is_clientid(): 1-10 ASCII digits and not loosely equal to "0" (so "00" is rejected too). */
export function isClientId (id: string): boolean {
  return id.length <= 10 && ctypeDigit(id) && !phpLooseEquals(id, '0')
}

/** The first nonce check is PHP truthiness: '' and '0' count as missing. */
export function isNonceMissing (nonce: string): boolean {
  return nonce === '' || nonce === '0'
}

/** is_nonce(): 16-40 ASCII letters and digits. */
export function isNonce (nonce: string): boolean {
  return /^[A-Za-z0-9]{16,40}$/.test(nonce)
}

/** `sl`: absent/empty → default, fast/secure (any case) → 1/40, else intval(); below 1 is invalid (null). */
export function parseSl (sl: string): number | null {
  if (sl === '') return SYNC_LEVEL_DEFAULT
  const lower = sl.replace(/[A-Z]/g, (c) => c.toLowerCase()) // strcasecmp is ASCII-only
  if (lower === 'fast') return SYNC_LEVEL_FAST
  if (lower === 'secure') return SYNC_LEVEL_SECURE
  const level = phpIntval(sl)
  return level < 1 ? null : level
}

/** `timeout`: absent/empty is fine (default), otherwise ctype_digit ("0" included). */
export function isTimeoutValid (timeout: string): boolean {
  return timeout === '' || ctypeDigit(timeout)
}

/** `timestamp == 1` with PHP 8 loose comparison ("1", "01", "1.0", "1e0" yes; "1abc" no). */
export function isTimestampRequested (timestamp: string): boolean {
  return phpLooseEqualsOne(timestamp)
}

// PHP's `$` also matches just before one final "\n", so yubikey-val treats "<modhex>\n" (reachable as
// "<modhex>\n\\": trim keeps it, backslash removal exposes the newline) like modhex. We mirror that so
// such a request fails where PHP's does (at the KSM) and not earlier.
function splitFinalNewline (s: string): [string, string] {
  return s.endsWith('\n') ? [s.slice(0, -1), '\n'] : [s, '']
}

/** The OTP as yubikey-val normalises it: lower case, then US-Dvorak → modhex if it is all Dvorak. */
export function normaliseRequestOtp (otp: string): string {
  const [core, nl] = splitFinalNewline(otp)
  return normaliseOtp(core) + nl
}

/** is_otp() on the normalised OTP: 32-48 bytes of modhex (PHP regex semantics, see above). */
export function isRequestOtp (otp: string): boolean {
  const [core] = splitFinalNewline(otp)
  return otp.length >= 32 && otp.length <= 48 && core.length > 0 && /^[cbdefghijklnrtuv]+$/.test(core)
}
