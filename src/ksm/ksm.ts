// The in-process KSM: what yhsm-yubikey-ksm does per request, as a function (reference/ksm-pyhsm.md §4.1, §5).
import { timingSafeEqual } from 'node:crypto'
import { isValidOtp } from '../otp/otp-string.js'
import { CRC_OK_RESIDUE, crc16, decryptToken, parseTokenPlaintext } from '../otp/token.js'
import type { KsmFailureReason } from '../outcome.js'
import type { OtpFields } from '../otp/types.js'
import { AeadAuthError, YUBIKEY_AEAD_BYTES, unwrapYubikeySecret } from './aead-codec.js'
import type { AeadStore } from './aead-store.js'
import type { Keyfile } from './keyfile.js'
import type { DecryptResult, Ksm } from './types.js'

export interface KsmOptions {
  keyfile: Keyfile
  store: AeadStore
}

function fail (publicId: string, reason: KsmFailureReason, detail: string): DecryptResult {
  return { ok: false, publicId, reason, detail }
}

export function createKsm (opts: KsmOptions): Ksm {
  const { keyfile, store } = opts
  return {
    async decrypt (otp: string): Promise<DecryptResult> {
      if (typeof otp !== 'string' || !isValidOtp(otp)) {
        return fail('', 'bad_otp_format', 'OTP is not 32-48 lower-case modhex characters')
      }
      const publicId = otp.slice(0, -32)
      const token = otp.slice(-32)
      const loaded = await store.load(publicId)
      if (loaded.status === 'missing') {
        return fail(publicId, 'unknown_key', `no AEAD for public id ${JSON.stringify(publicId)} (looked at ${loaded.tried.join(', ') || 'nothing'})`)
      }
      if (loaded.status === 'unreadable') return fail(publicId, 'aead_unreadable', loaded.detail)
      const rec = loaded.record
      const where = `${rec.source} (key handle ${rec.keyHandle})`
      if (rec.aead.length !== YUBIKEY_AEAD_BYTES) {
        return fail(publicId, 'aead_unreadable', `${where}: AEAD is ${rec.aead.length} bytes, a YubiKey AEAD has ${YUBIKEY_AEAD_BYTES}`)
      }
      const key = keyfile.get(rec.keyHandle)
      if (key === undefined) return fail(publicId, 'unknown_key_handle', `${where}: the keyfile has no key handle ${rec.keyHandle}`)
      let secret
      try {
        secret = unwrapYubikeySecret(key, rec.keyHandle, rec.nonce, rec.aead)
      } catch (err) {
        if (err instanceof AeadAuthError) {
          return fail(publicId, 'aead_auth_failed', `${where}: AEAD integrity check failed (wrong key-handle key or corrupted file)`)
        }
        throw err
      }
      let plain: Buffer | undefined
      try {
        plain = decryptToken(token, secret.aesKey)
        const parsed = parseTokenPlaintext(plain)
        if (!timingSafeEqual(parsed.privateUid, secret.privateUid)) {
          return fail(publicId, 'uid_mismatch', `${where}: the OTP's private uid differs from the AEAD's (token made with another key?)`)
        }
        if (crc16(plain) !== CRC_OK_RESIDUE) return fail(publicId, 'crc_mismatch', `${where}: the OTP's CRC-16 check failed`)
        return { ok: true, publicId, fields: parsed.fields, keyHandle: rec.keyHandle, source: rec.source }
      } finally {
        // best effort: the key also lived briefly inside OpenSSL contexts we cannot reach
        secret.secret.fill(0)
        plain?.fill(0)
      }
    }
  }
}

/** The body of yhsm-yubikey-ksm's success answer for these fields: `OK counter=%04x low=%04x high=%02x use=%02x`. */
export function formatKsmOkLine (f: OtpFields): string {
  const h = (n: number, w: number): string => n.toString(16).padStart(w, '0')
  return `OK counter=${h(f.counter, 4)} low=${h(f.timestampLow, 4)} high=${h(f.timestampHigh, 2)} use=${h(f.sessionUse, 2)}`
}
