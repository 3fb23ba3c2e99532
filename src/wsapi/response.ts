// The verify response body (reference §2.2): h, t, extras in insertion order, status; CRLF lines and a
// final empty line. `h` signs status, t and the extras.
import type { WsapiStatus } from '../outcome.js'
import { signParams } from './signature.js'

export interface ResponseSpec {
  status: WsapiStatus
  /** Extra fields in body order (otp, nonce, sl, timestamp, sessioncounter, sessionuse). */
  extras?: ReadonlyArray<readonly [string, string]>
}

const pad = (n: number, width: number): string => String(n).padStart(width, '0')

/** yubikey-val's `t`: UTC `YYYY-MM-DDTHH:MM:SSZ0mmm` (literal "Z0", then milliseconds). */
export function formatTimestamp (date: Date): string {
  return `${pad(date.getUTCFullYear(), 4)}-${pad(date.getUTCMonth() + 1, 2)}-${pad(date.getUTCDate(), 2)}` +
    `T${pad(date.getUTCHours(), 2)}:${pad(date.getUTCMinutes(), 2)}:${pad(date.getUTCSeconds(), 2)}` +
    `Z0${pad(date.getUTCMilliseconds(), 3)}`
}

export const RESPONSE_CONTENT_TYPE = 'text/plain; charset=utf-8'

/** Builds the full body; `key` is the client's decoded secret, or an empty buffer for the empty key. */
export function buildResponse (spec: ResponseSpec, key: Uint8Array, now: Date): string {
  const t = formatTimestamp(now)
  const extras = spec.extras ?? []
  const h = signParams([['status', spec.status], ['t', t], ...extras.map(([k, v]) => [k, v] as [string, string])], key)
  let body = `h=${h}\r\nt=${t}\r\n`
  for (const [k, v] of extras) body += `${k}=${v}\r\n`
  return body + `status=${spec.status}\r\n\r\n`
}
