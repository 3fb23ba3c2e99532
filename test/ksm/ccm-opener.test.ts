import { randomBytes, randomInt } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { AeadAuthError, prepareYubikeyAead, unwrapYubikeySecret, wrapYubikeySecret } from '../../src/ksm/aead-codec.js'
import { YubikeyAeadOpener } from '../../src/ksm/ccm-opener.js'
import { ccmVectors } from './fixtures.js'

const hex = (s: string): Buffer => Buffer.from(s, 'hex')

describe('YubikeyAeadOpener (CCM from one long-lived ECB context)', () => {
  it('opens pyhsm\'s 22-byte vectors', () => {
    const v22 = ccmVectors().filter((v) => v.plaintext.length === 44)
    expect(v22.length).toBeGreaterThan(0)
    for (const v of v22) {
      const p = prepareYubikeyAead(v.key_handle, hex(v.nonce_in), hex(v.aead))
      expect(new YubikeyAeadOpener(hex(v.aes_key)).open(p).toString('hex')).toBe(v.plaintext)
    }
  })

  it('agrees with Node\'s aes-*-ccm on random keys, key handles, nonces and secrets, reusing one opener', () => {
    for (const size of [16, 24, 32]) {
      const key = randomBytes(size)
      const opener = new YubikeyAeadOpener(key)
      for (let i = 0; i < 300; i++) {
        const kh = randomInt(0, 2 ** 32 - 1)
        const nonce = randomBytes(randomInt(0, 7))
        const aead = wrapYubikeySecret(key, kh, nonce, randomBytes(16), randomBytes(6))
        const expected = unwrapYubikeySecret(key, kh, nonce, aead).secret
        expect(opener.open(prepareYubikeyAead(kh, nonce, aead))).toEqual(expected)
      }
    }
  })

  it('rejects every single-bit change of ciphertext or tag, and a wrong key handle', () => {
    const key = randomBytes(32)
    const opener = new YubikeyAeadOpener(key)
    const nonce = randomBytes(6)
    const aead = wrapYubikeySecret(key, 5, nonce, randomBytes(16), randomBytes(6))
    for (let bit = 0; bit < aead.length * 8; bit++) {
      const bad = Buffer.from(aead)
      bad[bit >> 3]! ^= 1 << (bit & 7)
      expect(() => opener.open(prepareYubikeyAead(5, nonce, bad))).toThrow(AeadAuthError)
    }
    expect(() => opener.open(prepareYubikeyAead(6, nonce, aead))).toThrow(AeadAuthError)
    expect(() => new YubikeyAeadOpener(randomBytes(32)).open(prepareYubikeyAead(5, nonce, aead))).toThrow(AeadAuthError)
    // still usable after failures
    expect(opener.open(prepareYubikeyAead(5, nonce, aead))).toHaveLength(22)
  })

  it('refuses key sizes AES does not have', () => {
    expect(() => new YubikeyAeadOpener(randomBytes(20))).toThrow(/16, 24 or 32 bytes, got 20/)
  })
})
