// The verify hot path opens YubiKey AEADs with two long-lived AES contexts per key-handle key instead of
// a new CCM context per request (creating OpenSSL contexts dominated the cost). This is CCM exactly as in
// reference/ksm-pyhsm.md §2.3-2.4 (M = 8, L = 2, no AAD), built from block encryptions; the tests check
// it against Node's aes-*-ccm, pyhsm's vectors and every fixture file. Only the key-handle key, which the
// process holds anyway, lives in those contexts; YubiKey secrets are zeroed after use as before.
import { createCipheriv, timingSafeEqual, type Cipher } from 'node:crypto'
import { AeadAuthError, AeadLengthError, AEAD_MAC_BYTES, YUBIKEY_SECRET_BYTES, type PreparedYubikeyAead } from './aead-codec.js'

export class YubikeyAeadOpener {
  /** B_0 and the CTR blocks A_0..A_2 in one call. */
  private readonly ecb: Cipher
  /**
   * The CBC-MAC over P in one call. A CBC context chains across calls, so its state is the last
   * ciphertext block it produced (`chain`); xoring that into the first input block cancels it.
   */
  private readonly cbc: Cipher
  private readonly chain = Buffer.alloc(16)

  constructor (key: Buffer) {
    const bits = key.length * 8
    if (![128, 192, 256].includes(bits)) throw new AeadLengthError(`key-handle key must be 16, 24 or 32 bytes, got ${key.length}`)
    this.ecb = createCipheriv(`aes-${bits}-ecb`, key, null).setAutoPadding(false)
    this.cbc = createCipheriv(`aes-${bits}-cbc`, key, this.chain).setAutoPadding(false)
  }

  /** 22 bytes YubiKey AES key ‖ private uid; AeadAuthError if the tag does not verify. Caller zeroes the result. */
  open (p: PreparedYubikeyAead): Buffer {
    const enc = this.ecb.update(p.ccmBlocks) // X_0 = E(B_0), S_0, S_1, S_2
    const plain = Buffer.alloc(YUBIKEY_SECRET_BYTES)
    for (let i = 0; i < YUBIKEY_SECRET_BYTES; i++) plain[i] = p.ciphertext[i]! ^ enc[32 + i]!
    // CBC input: (X_0 ^ P_1 ^ chain) ‖ (P_2 zero-padded) → outputs X_1, X_2 = the CBC-MAC
    const mac = Buffer.alloc(32)
    for (let i = 0; i < 16; i++) mac[i] = enc[i]! ^ plain[i]! ^ this.chain[i]!
    for (let i = 16; i < YUBIKEY_SECRET_BYTES; i++) mac[i] = plain[i]!
    const x = this.cbc.update(mac)
    for (let i = 0; i < 16; i++) this.chain[i] = x[16 + i]!
    for (let i = 0; i < AEAD_MAC_BYTES; i++) x[16 + i]! ^= enc[16 + i]!
    const ok = timingSafeEqual(x.subarray(16, 16 + AEAD_MAC_BYTES), p.tag)
    // keystream and MAC state would reveal the secret together with the ciphertext
    enc.fill(0)
    mac.fill(0)
    x.fill(0)
    if (!ok) {
      plain.fill(0)
      throw new AeadAuthError()
    }
    return plain
  }
}
