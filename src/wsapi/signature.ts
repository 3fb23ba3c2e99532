// yubikey-val's sign(): HMAC-SHA1 over `k=v&...` of the parameters in PHP ksort order (reference §2.1).
import { createHmac, timingSafeEqual } from 'node:crypto'
import { phpKeyCompare } from './php-string.js'
import type { PhpValue, RequestParams } from './query-parse.js'

const B64_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/'
const B64_VALUE = new Map([...B64_ALPHABET].map((c, i) => [c, i]))

/**
 * PHP base64_decode() in its default non-strict mode: '=' and every character outside the standard
 * alphabet are skipped wherever they occur; leftover bits that do not fill a byte are dropped.
 */
export function decodeClientSecret (b64: string): Buffer {
  const out: number[] = []
  let acc = 0
  let bits = 0
  for (const c of b64) {
    const v = B64_VALUE.get(c)
    if (v === undefined) continue
    acc = ((acc << 6) | v) & 0xffff
    bits += 6
    if (bits >= 8) {
      bits -= 8
      out.push((acc >> bits) & 0xff)
    }
  }
  return Buffer.from(out)
}

function flatten (key: string, value: PhpValue, out: string[]): void {
  if (typeof value === 'string') {
    out.push(`${key}=${value}`)
    return
  }
  for (const [k, v] of value.entries) flatten(`${key}[${k}]`, v, out)
}

/**
 * The signed string: top-level keys in PHP ksort order, nested arrays as `key[i]=v` in their own order
 * (http_build_query + urldecode), joined by '&'; decoded values exactly, nothing escaped.
 */
export function buildSignString (params: Iterable<[string, PhpValue]>): string {
  const sorted = [...params].sort(([a], [b]) => phpKeyCompare(a, b))
  const out: string[] = []
  for (const [k, v] of sorted) flatten(k, v, out)
  return out.join('&')
}

/**
 * Base64 HMAC-SHA1 of the sign string. Names and values are byte strings; utf8_encode() turns every byte
 * into its Latin-1 character encoded as UTF-8 — which is exactly UTF-8 encoding the byte string.
 */
export function signParams (params: Iterable<[string, PhpValue]>, key: Uint8Array): string {
  return createHmac('sha1', key).update(Buffer.from(buildSignString(params), 'utf8')).digest('base64')
}

/** Constant-time comparison of two base64 strings (hash_equals: a length difference fails at once). */
export function signaturesEqual (expected: string, given: string): boolean {
  const a = Buffer.from(expected, 'latin1')
  const b = Buffer.from(given, 'latin1')
  return a.length === b.length && timingSafeEqual(a, b)
}

/** Checks `h` against every received parameter except `h` itself, raw values (before trim). */
export function verifyRequestSignature (params: RequestParams, h: string, key: Uint8Array): boolean {
  const signed = [...params.entries].filter(([k]) => k !== 'h')
  return signaturesEqual(signParams(signed, key), h)
}
