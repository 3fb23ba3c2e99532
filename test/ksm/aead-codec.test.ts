import { describe, expect, it } from 'vitest'
import {
  AeadAuthError, AeadLengthError, ccmNonce, unwrapAead, unwrapYubikeySecret, wrapAead, wrapYubikeySecret
} from '../../src/ksm/aead-codec.js'
import { ccmVectors } from './fixtures.js'

const hex = (s: string): Buffer => Buffer.from(s, 'hex')
const vectors = ccmVectors()

describe('AES-CCM against pyhsm aesCCM (ccm-vectors.json)', () => {
  it('has the 8 vectors', () => { expect(vectors).toHaveLength(8) })

  it.each(vectors.map((v) => [v.name, v] as const))('%s: nonce, wrap and unwrap', (_n, v) => {
    expect(ccmNonce(v.key_handle, hex(v.nonce_in)).toString('hex')).toBe(v.ccm_nonce_13)
    expect(wrapAead(hex(v.aes_key), v.key_handle, hex(v.nonce_in), hex(v.plaintext)).toString('hex')).toBe(v.aead)
    expect(unwrapAead(hex(v.aes_key), v.key_handle, hex(v.nonce_in), hex(v.aead)).toString('hex')).toBe(v.plaintext)
  })

  it.each(vectors.map((v) => [v.name, v] as const))('%s: a flipped bit fails authentication', (_n, v) => {
    const bad = hex(v.aead)
    bad[bad.length - 1]! ^= 1
    expect(() => unwrapAead(hex(v.aes_key), v.key_handle, hex(v.nonce_in), bad)).toThrow(AeadAuthError)
    // and so does the wrong key handle (it is part of the nonce)
    expect(() => unwrapAead(hex(v.aes_key), (v.key_handle + 1) >>> 0, hex(v.nonce_in), hex(v.aead))).toThrow(AeadAuthError)
  })
})

describe('YubiKey secrets', () => {
  const v = vectors.find((x) => x.name === 'yubikey-secret-aes256-kh1')!
  const plain = hex(v.plaintext)

  it('wraps key ‖ uid into the 30-byte AEAD and unwraps it', () => {
    const aead = wrapYubikeySecret(hex(v.aes_key), v.key_handle, hex(v.nonce_in), plain.subarray(0, 16), plain.subarray(16))
    expect(aead.toString('hex')).toBe(v.aead)
    const s = unwrapYubikeySecret(hex(v.aes_key), v.key_handle, hex(v.nonce_in), aead)
    expect(s.aesKey.toString('hex')).toBe(v.plaintext.slice(0, 32))
    expect(s.privateUid.toString('hex')).toBe(v.plaintext.slice(32))
  })

  it('pads a short uid with zeros like pyhsm', () => {
    const key = hex(v.aes_key)
    const short = wrapYubikeySecret(key, 1, hex(v.nonce_in), plain.subarray(0, 16), hex('0102'))
    const full = wrapYubikeySecret(key, 1, hex(v.nonce_in), plain.subarray(0, 16), hex('010200000000'))
    expect(short).toEqual(full)
  })

  it('distinguishes wrong length from failed authentication', () => {
    const key = hex(v.aes_key)
    expect(() => unwrapYubikeySecret(key, 1, hex(v.nonce_in), hex(v.aead).subarray(0, 20))).toThrow(AeadLengthError)
    expect(() => unwrapYubikeySecret(key, 1, hex(v.nonce_in), hex(v.aead).subarray(0, 20))).toThrow(/30 bytes, got 20/)
    expect(() => unwrapYubikeySecret(key, 2, hex(v.nonce_in), hex(v.aead))).toThrow(AeadAuthError)
  })

  it('validates key, nonce and field sizes with secret-free messages', () => {
    expect(() => wrapAead(Buffer.alloc(20), 1, Buffer.alloc(6), Buffer.alloc(1))).toThrow(/16, 24 or 32 bytes, got 20/)
    expect(() => wrapAead(Buffer.alloc(16), 1, Buffer.alloc(7), Buffer.alloc(1))).toThrow(/nonce/)
    expect(() => wrapAead(Buffer.alloc(16), 1, Buffer.alloc(6), Buffer.alloc(65))).toThrow(/at most 64/)
    expect(() => wrapAead(Buffer.alloc(16), -1, Buffer.alloc(6), Buffer.alloc(1))).toThrow(/uint32/)
    expect(() => unwrapAead(Buffer.alloc(16), 1, Buffer.alloc(6), Buffer.alloc(7))).toThrow(AeadLengthError)
    expect(() => wrapYubikeySecret(Buffer.alloc(16), 1, Buffer.alloc(6), Buffer.alloc(15), Buffer.alloc(6))).toThrow(/16 bytes/)
    expect(() => wrapYubikeySecret(Buffer.alloc(16), 1, Buffer.alloc(6), Buffer.alloc(16), Buffer.alloc(7))).toThrow(/uid/)
  })
})
