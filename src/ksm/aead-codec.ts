// YubiHSM AEADs: plain AES-CCM (M = 8, L = 2, no associated data) with a 13-byte nonce
// kh uint32 LE ‖ nonce (6, zero-padded) ‖ 00 00 00 (reference/ksm-pyhsm.md §2).
import { createCipheriv, createDecipheriv, type CipherCCMTypes } from 'node:crypto'
import { MAX_KEY_HANDLE } from './key-handle.js'

export const AEAD_NONCE_BYTES = 6
export const AEAD_MAC_BYTES = 8
/** YubiKey AES key (16) ‖ private uid (6). */
export const YUBIKEY_SECRET_BYTES = 22
export const YUBIKEY_AEAD_BYTES = YUBIKEY_SECRET_BYTES + AEAD_MAC_BYTES
/** pyhsm's YSM_DATA_BUF_SIZE: the longest plaintext a (generic) AEAD may carry. */
export const MAX_AEAD_PLAINTEXT_BYTES = 64

export class AeadLengthError extends Error {
  constructor (message: string) {
    super(message)
    this.name = 'AeadLengthError'
  }
}

/** The CCM tag did not verify: wrong key-handle key, wrong key handle/nonce, or a corrupted AEAD. */
export class AeadAuthError extends Error {
  constructor (message = 'AEAD integrity check failed (wrong key-handle key or corrupted AEAD)') {
    super(message)
    this.name = 'AeadAuthError'
  }
}

const CCM_BY_KEY_LENGTH: Record<number, CipherCCMTypes> = { 16: 'aes-128-ccm', 24: 'aes-192-ccm', 32: 'aes-256-ccm' }

function ccmAlgorithm (key: Buffer): CipherCCMTypes {
  const alg = CCM_BY_KEY_LENGTH[key.length]
  if (alg === undefined) throw new AeadLengthError(`key-handle key must be 16, 24 or 32 bytes, got ${key.length}`)
  return alg
}

/** The 13-byte CCM nonce; a nonce shorter than 6 bytes is right-padded with zeros, as pyhsm does. */
export function ccmNonce (keyHandle: number, nonce: Uint8Array): Buffer {
  if (!Number.isInteger(keyHandle) || keyHandle < 0 || keyHandle > MAX_KEY_HANDLE) {
    throw new RangeError(`key handle must be a uint32, got ${keyHandle}`)
  }
  if (nonce.length > AEAD_NONCE_BYTES) throw new AeadLengthError(`AEAD nonce must be at most ${AEAD_NONCE_BYTES} bytes, got ${nonce.length}`)
  const n = Buffer.alloc(13)
  n.writeUInt32LE(keyHandle, 0)
  n.set(nonce, 4)
  return n
}

/** Encrypts any plaintext (0..64 bytes) into ciphertext ‖ 8-byte tag. */
export function wrapAead (key: Buffer, keyHandle: number, nonce: Uint8Array, plaintext: Uint8Array): Buffer {
  if (plaintext.length > MAX_AEAD_PLAINTEXT_BYTES) {
    throw new AeadLengthError(`AEAD plaintext must be at most ${MAX_AEAD_PLAINTEXT_BYTES} bytes, got ${plaintext.length}`)
  }
  const cipher = createCipheriv(ccmAlgorithm(key), key, ccmNonce(keyHandle, nonce), { authTagLength: AEAD_MAC_BYTES })
  const ct = cipher.update(plaintext)
  cipher.final()
  return Buffer.concat([ct, cipher.getAuthTag()])
}

/** Decrypts and authenticates ciphertext ‖ tag; AeadAuthError if the tag does not verify. */
export function unwrapAead (key: Buffer, keyHandle: number, nonce: Uint8Array, aead: Uint8Array): Buffer {
  if (aead.length < AEAD_MAC_BYTES || aead.length > MAX_AEAD_PLAINTEXT_BYTES + AEAD_MAC_BYTES) {
    throw new AeadLengthError(`AEAD must be ${AEAD_MAC_BYTES}..${MAX_AEAD_PLAINTEXT_BYTES + AEAD_MAC_BYTES} bytes, got ${aead.length}`)
  }
  const decipher = createDecipheriv(ccmAlgorithm(key), key, ccmNonce(keyHandle, nonce), { authTagLength: AEAD_MAC_BYTES })
  decipher.setAuthTag(aead.subarray(aead.length - AEAD_MAC_BYTES))
  // CCM: exactly one update() call, then final() checks the tag
  const plain = decipher.update(aead.subarray(0, aead.length - AEAD_MAC_BYTES))
  try {
    decipher.final()
  } catch {
    plain.fill(0)
    throw new AeadAuthError()
  }
  return plain
}

/** The AEAD of a YubiKey secret: AES-CCM over YubiKey AES key (16) ‖ private uid (6, zero-padded). */
export function wrapYubikeySecret (key: Buffer, keyHandle: number, nonce: Uint8Array, aesKey: Uint8Array, privateUid: Uint8Array): Buffer {
  if (aesKey.length !== 16) throw new AeadLengthError(`YubiKey AES key must be 16 bytes, got ${aesKey.length}`)
  if (privateUid.length > 6) throw new AeadLengthError(`private uid must be at most 6 bytes, got ${privateUid.length}`)
  const plain = Buffer.alloc(YUBIKEY_SECRET_BYTES)
  plain.set(aesKey, 0)
  plain.set(privateUid, 16)
  try {
    return wrapAead(key, keyHandle, nonce, plain)
  } finally {
    plain.fill(0)
  }
}

/** A YubiKey AEAD split and checked once, so a cache can keep it ready (ciphertext only, no secret). */
export interface PreparedYubikeyAead {
  keyHandle: number
  ccmNonce: Buffer
  ciphertext: Buffer
  tag: Buffer
  /** The CCM blocks that depend only on the nonce: B_0 (MAC IV for 22 bytes), then counters A_0, A_1, A_2. */
  ccmBlocks: Buffer
}

export function prepareYubikeyAead (keyHandle: number, nonce: Uint8Array, aead: Uint8Array): PreparedYubikeyAead {
  if (aead.length !== YUBIKEY_AEAD_BYTES) {
    throw new AeadLengthError(`YubiKey AEAD must be ${YUBIKEY_AEAD_BYTES} bytes, got ${aead.length}`)
  }
  const n = ccmNonce(keyHandle, nonce)
  const blocks = Buffer.alloc(64)
  blocks[0] = 0x19 // ((M - 2) / 2) << 3 | (L - 1), no associated data
  n.copy(blocks, 1)
  blocks[15] = YUBIKEY_SECRET_BYTES
  for (let i = 0; i < 3; i++) {
    blocks[16 * (i + 1)] = 0x01 // L - 1
    n.copy(blocks, 16 * (i + 1) + 1)
    blocks[16 * (i + 1) + 15] = i
  }
  const copy = Buffer.from(aead)
  return { keyHandle, ccmNonce: n, ciphertext: copy.subarray(0, YUBIKEY_SECRET_BYTES), tag: copy.subarray(YUBIKEY_SECRET_BYTES), ccmBlocks: blocks }
}

/** Opens a 30-byte YubiKey AEAD; the caller should zero `secret` (aesKey and privateUid are views of it). */
export function unwrapYubikeySecret (key: Buffer, keyHandle: number, nonce: Uint8Array, aead: Uint8Array): { secret: Buffer, aesKey: Buffer, privateUid: Buffer } {
  if (aead.length !== YUBIKEY_AEAD_BYTES) {
    throw new AeadLengthError(`YubiKey AEAD must be ${YUBIKEY_AEAD_BYTES} bytes, got ${aead.length}`)
  }
  const secret = unwrapAead(key, keyHandle, nonce, aead)
  return { secret, aesKey: secret.subarray(0, 16), privateUid: secret.subarray(16, 22) }
}
