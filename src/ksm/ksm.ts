// The in-process KSM: what yhsm-yubikey-ksm does per request, as a function (reference/ksm-pyhsm.md §4.1, §5).
import { timingSafeEqual } from 'node:crypto'
import { isValidOtp } from '../otp/otp-string.js'
import { decryptToken, parseTokenPlaintext } from '../otp/token.js'
import type { OtpFields } from '../otp/types.js'
import type { KsmFailureReason } from '../outcome.js'
import { AeadAuthError, YUBIKEY_AEAD_BYTES, prepareYubikeyAead } from './aead-codec.js'
import { YubikeyAeadOpener } from './ccm-opener.js'
import type { AeadLoadResult, AeadRecord, AeadStore } from './aead-store.js'
import type { Keyfile } from './keyfile.js'
import type { DecryptResult, Ksm } from './types.js'

export interface KsmOptions {
  keyfile: Keyfile
  store: AeadStore
}

function fail (publicId: string, reason: KsmFailureReason, detail: string, aeadFound = true): DecryptResult {
  return { ok: false, publicId, reason, detail, aeadFound }
}

type Openers = Map<number, YubikeyAeadOpener>

const where = (rec: AeadRecord): string => `${rec.source} (key handle ${rec.keyHandle})`

/** Everything after the AEAD was found: pyhsm's bare `ERR` cases, or the fields. */
function decryptWith (keyfile: Openers, rec: AeadRecord, token: string): DecryptResult {
  const publicId = rec.publicId
  if (rec.aead.length !== YUBIKEY_AEAD_BYTES) {
    return fail(publicId, 'aead_unreadable', `${where(rec)}: AEAD is ${rec.aead.length} bytes, a YubiKey AEAD has ${YUBIKEY_AEAD_BYTES}`)
  }
  // ~1 µs per call: cheaper than keeping ~500 bytes of prepared blocks per cached key (100,000 keys)
  const p = prepareYubikeyAead(rec.keyHandle, rec.nonce, rec.aead)
  const opener = keyfile.get(rec.keyHandle)
  if (opener === undefined) return fail(publicId, 'unknown_key_handle', `${where(rec)}: the keyfile has no key handle ${rec.keyHandle}`)
  let secret: Buffer
  try {
    secret = opener.open(p)
  } catch (err) {
    if (err instanceof AeadAuthError) {
      return fail(publicId, 'aead_auth_failed', `${where(rec)}: AEAD integrity check failed (wrong key-handle key or corrupted file)`)
    }
    throw err
  }
  let plain: Buffer | undefined
  try {
    plain = decryptToken(token, secret.subarray(0, 16))
    const parsed = parseTokenPlaintext(plain)
    if (!timingSafeEqual(parsed.privateUid, secret.subarray(16, 22))) {
      return fail(publicId, 'uid_mismatch', `${where(rec)}: the OTP's private uid differs from the AEAD's (token made with another key?)`)
    }
    if (!parsed.crcOk) return fail(publicId, 'crc_mismatch', `${where(rec)}: the OTP's CRC-16 check failed`)
    return { ok: true, publicId, fields: parsed.fields, keyHandle: rec.keyHandle, source: rec.source }
  } finally {
    // best effort: the key also lived briefly inside OpenSSL contexts we cannot reach
    secret.fill(0)
    plain?.fill(0)
  }
}

function fromLoad (keyfile: Openers, loaded: AeadLoadResult, publicId: string, token: string): DecryptResult {
  if (loaded.status === 'found') return decryptWith(keyfile, loaded.record, token)
  if (loaded.status === 'unreadable') return fail(publicId, 'aead_unreadable', loaded.detail, false)
  return fail(publicId, 'unknown_key', `no AEAD for public id ${JSON.stringify(publicId)} (looked at ${loaded.tried.join(', ') || 'nothing'})`, false)
}

export function createKsm (opts: KsmOptions): Ksm {
  const { store } = opts
  const keyfile: Openers = new Map([...opts.keyfile].map(([kh, key]) => [kh, new YubikeyAeadOpener(key)]))
  return {
    async decrypt (otp: string): Promise<DecryptResult> {
      if (typeof otp !== 'string' || !isValidOtp(otp)) {
        return fail('', 'bad_otp_format', 'OTP is not 32-48 lower-case modhex characters', false)
      }
      const publicId = otp.slice(0, -32)
      const token = otp.slice(-32)
      const cached = store.peek?.(publicId)
      if (cached !== undefined) return decryptWith(keyfile, cached, token)
      return fromLoad(keyfile, await store.load(publicId), publicId, token)
    }
  }
}

/**
 * The line yhsm-yubikey-ksm answers for a decrypt result (without the newline): `OK counter=…`,
 * `ERR Invalid OTP`, `ERR Unknown public_id` (nothing usable stored), or a bare `ERR` (everything that
 * fails after the AEAD was found, and a remote KSM's refusal or absence).
 */
export function formatKsmAnswer (r: DecryptResult): string {
  if (r.ok) return formatKsmOkLine(r.fields)
  if (r.reason === 'bad_otp_format') return 'ERR Invalid OTP'
  if (r.reason === 'unknown_key' || r.aeadFound === false) return 'ERR Unknown public_id'
  return 'ERR'
}

/** The body of yhsm-yubikey-ksm's success answer for these fields: `OK counter=%04x low=%04x high=%02x use=%02x`. */
export function formatKsmOkLine (f: OtpFields): string {
  const h = (n: number, w: number): string => n.toString(16).padStart(w, '0')
  return `OK counter=${h(f.counter, 4)} low=${h(f.timestampLow, 4)} high=${h(f.timestampHigh, 2)} use=${h(f.sessionUse, 2)}`
}
