// The verify hot path opens YubiKey AEADs with one long-lived AES-ECB context per key-handle key instead
// of a new CCM context per request (creating OpenSSL contexts dominated the cost). This is CCM exactly as
// in reference/ksm-pyhsm.md §2.3-2.4 (M = 8, L = 2, no AAD), built from block encryptions; the tests check
// it against Node's aes-*-ccm, pyhsm's vectors and every fixture file. Only the key-handle key, which the
// process holds anyway, lives in that context; YubiKey secrets are zeroed after use as before.
import { createCipheriv, timingSafeEqual, type Cipher } from 'node:crypto'
import { AeadAuthError, AeadLengthError, AEAD_MAC_BYTES, YUBIKEY_SECRET_BYTES, type PreparedYubikeyAead } from './aead-codec.js'

const ECB_BY_KEY_LENGTH: Record<number, string> = { 16: 'aes-128-ecb', 24: 'aes-192-ecb', 32: 'aes-256-ecb' }
const FLAGS_CTR = 0x01 // L - 1 = 1
const FLAGS_B0 = 0x19 // ((M - 2) / 2) << 3 | (L - 1), no Adata

export class YubikeyAeadOpener {
  private readonly ecb: Cipher

  constructor (key: Buffer) {
    const alg = ECB_BY_KEY_LENGTH[key.length]
    if (alg === undefined) throw new AeadLengthError(`key-handle key must be 16, 24 or 32 bytes, got ${key.length}`)
    this.ecb = createCipheriv(alg, key, null)
    this.ecb.setAutoPadding(false)
  }

  private encrypt (blocks: Buffer): Buffer {
    return this.ecb.update(blocks)
  }

  /** 22 bytes YubiKey AES key ‖ private uid; AeadAuthError if the tag does not verify. Caller zeroes the result. */
  open (p: PreparedYubikeyAead): Buffer {
    // B_0, A_0, A_1, A_2 in one call: the MAC IV and the CTR keystream blocks
    const blocks = Buffer.alloc(64)
    blocks[0] = FLAGS_B0
    p.ccmNonce.copy(blocks, 1)
    blocks[15] = YUBIKEY_SECRET_BYTES
    for (let i = 0; i < 3; i++) {
      blocks[16 * (i + 1)] = FLAGS_CTR
      p.ccmNonce.copy(blocks, 16 * (i + 1) + 1)
      blocks[16 * (i + 1) + 15] = i
    }
    const enc = this.encrypt(blocks)
    const plain = Buffer.alloc(YUBIKEY_SECRET_BYTES)
    for (let i = 0; i < YUBIKEY_SECRET_BYTES; i++) plain[i] = p.ciphertext[i]! ^ enc[32 + i]!
    // CBC-MAC over P (16 + 6 bytes, zero-padded)
    const x = enc.subarray(0, 16)
    for (let i = 0; i < 16; i++) x[i]! ^= plain[i]!
    const x1 = this.encrypt(x)
    for (let i = 0; i < 6; i++) x1[i]! ^= plain[16 + i]!
    const x2 = this.encrypt(x1)
    for (let i = 0; i < AEAD_MAC_BYTES; i++) x2[i]! ^= enc[16 + i]!
    const ok = timingSafeEqual(x2.subarray(0, AEAD_MAC_BYTES), p.tag)
    // the keystream and MAC state would reveal the secret together with the ciphertext
    enc.fill(0)
    x1.fill(0)
    x2.fill(0)
    if (!ok) {
      plain.fill(0)
      throw new AeadAuthError()
    }
    return plain
  }
}
