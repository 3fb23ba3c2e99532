// OTP strings as yubikey-val sees them (reference/yubikey-val.md §1.2).
import type { SplitOtp } from './types.js'

export const TOKEN_LENGTH = 32
export const MAX_PUBLIC_ID_LENGTH = 16
export const MIN_OTP_LENGTH = TOKEN_LENGTH
export const MAX_OTP_LENGTH = TOKEN_LENGTH + MAX_PUBLIC_ID_LENGTH

const DVORAK = 'jxe.uidchtnbpygk'
const QWERTY_MODHEX = 'cbdefghijklnrtuv'
const DVORAK_ONLY = /^[jxe.uidchtnbpygk]+$/
const OTP_RE = /^[cbdefghijklnrtuv]{32,48}$/

/**
 * yubikey-val's normalisation: ASCII lower-case (PHP strtolower), then, if the whole string is made
 * of US-Dvorak modhex characters, translate it. Note the gotcha this keeps on purpose: a genuine
 * modhex OTP with none of f/l/r/v also matches and gets translated (e.g. all-`c` becomes all-`i`).
 */
export function normaliseOtp (raw: string): string {
  const lower = raw.replace(/[A-Z]+/g, (m) => m.toLowerCase())
  if (!DVORAK_ONLY.test(lower)) return lower
  let out = ''
  for (let i = 0; i < lower.length; i++) out += QWERTY_MODHEX[DVORAK.indexOf(lower[i]!)]
  return out
}

/** 32-48 lower-case modhex characters (a public id of 0-16 characters plus a 32-character token). */
export function isValidOtp (s: string): boolean {
  return OTP_RE.test(s)
}

/** Public id = everything but the last 32 characters (0-16 characters, odd lengths included). */
export function splitOtp (otp: string): SplitOtp {
  if (!isValidOtp(otp)) {
    throw new Error(`not a Yubico OTP: expected 32-48 lower-case modhex characters, got ${otp.length} characters`)
  }
  return { publicId: otp.slice(0, -TOKEN_LENGTH), token: otp.slice(-TOKEN_LENGTH) }
}
