// The 16-byte Yubico OTP token: AES-128-ECB, layout and CRC per reference/ksm-pyhsm.md §5.
import { createCipheriv, createDecipheriv, randomInt } from 'node:crypto'
import { bytesToModhex, isModhex, modhexToBytesInto } from './modhex.js'
import { MAX_PUBLIC_ID_LENGTH, TOKEN_LENGTH } from './otp-string.js'
import type { OtpFields } from './types.js'

export const TOKEN_BYTES = 16
export const PRIVATE_UID_BYTES = 6
export const YUBIKEY_KEY_BYTES = 16
/** crc16 over a token with a correct stored CRC always gives this residue. */
export const CRC_OK_RESIDUE = 0xf0b8

// Byte-at-a-time table for the bitwise algorithm below: 8x fewer steps on the verify hot path.
const CRC_TABLE = new Uint16Array(256)
for (let b = 0; b < 256; b++) {
  let crc = b
  for (let j = 0; j < 8; j++) crc = crc & 1 ? (crc >>> 1) ^ 0x8408 : crc >>> 1
  CRC_TABLE[b] = crc
}

/** CRC-16 as in ISO 13239: init 0xffff, reflected polynomial 0x8408, no final xor. */
export function crc16 (buf: Uint8Array): number {
  let crc = 0xffff
  for (let i = 0; i < buf.length; i++) crc = (crc >>> 8) ^ CRC_TABLE[(crc ^ buf[i]!) & 0xff]!
  return crc
}

function checkKey (aesKey: Buffer): void {
  if (!Buffer.isBuffer(aesKey) || aesKey.length !== YUBIKEY_KEY_BYTES) {
    throw new Error(`YubiKey AES key must be ${YUBIKEY_KEY_BYTES} bytes, got ${Buffer.isBuffer(aesKey) ? aesKey.length : typeof aesKey}`)
  }
}

// The hot path decodes every token into this block instead of a fresh allocation; update() copies it.
const tokenScratch = Buffer.alloc(TOKEN_BYTES)

/** AES-128-ECB decrypt of the 32-modhex-character token (single block, no padding). */
export function decryptToken (token: string, aesKey: Buffer): Buffer {
  checkKey(aesKey)
  if (token.length !== TOKEN_LENGTH) throw new Error(`OTP token must be ${TOKEN_LENGTH} modhex characters, got ${token.length}`)
  modhexToBytesInto(token, tokenScratch)
  const decipher = createDecipheriv('aes-128-ecb', aesKey, null)
  decipher.setAutoPadding(false)
  const plain = decipher.update(tokenScratch)
  decipher.final()
  return plain
}

/** Splits a decrypted token; all multi-byte fields are little-endian. The caps-lock bit 0x8000 is kept. */
export function parseTokenPlaintext (plain: Buffer): { privateUid: Buffer, fields: OtpFields, crcOk: boolean } {
  if (plain.length !== TOKEN_BYTES) throw new Error(`token plaintext must be ${TOKEN_BYTES} bytes, got ${plain.length}`)
  return {
    privateUid: plain.subarray(0, PRIVATE_UID_BYTES),
    fields: {
      counter: plain.readUInt16LE(6),
      timestampLow: plain.readUInt16LE(8),
      timestampHigh: plain[10]!,
      sessionUse: plain[11]!,
      random: plain.readUInt16LE(12),
      crc: plain.readUInt16LE(14)
    },
    crcOk: crc16(plain) === CRC_OK_RESIDUE
  }
}

export interface OtpSecretsAndFields {
  /** Modhex public id, 0-16 characters. */
  publicId: string
  aesKey: Buffer
  privateUid: Buffer
  counter: number
  timestampLow: number
  timestampHigh: number
  sessionUse: number
  /** 16-bit random field; a random value when omitted. */
  random?: number
}

function checkField (name: string, value: number, max: number): void {
  if (!Number.isInteger(value) || value < 0 || value > max) {
    throw new Error(`${name} must be an integer 0..${max}, got ${value}`)
  }
}

/** Builds the 16-byte token plaintext with its CRC (~crc16(bytes 0..13), little-endian). */
export function encodeTokenPlaintext (f: Omit<OtpSecretsAndFields, 'publicId' | 'aesKey'>): Buffer {
  if (!Buffer.isBuffer(f.privateUid) || f.privateUid.length !== PRIVATE_UID_BYTES) {
    throw new Error(`private uid must be ${PRIVATE_UID_BYTES} bytes`)
  }
  const random = f.random ?? randomInt(0x10000)
  checkField('counter', f.counter, 0xffff)
  checkField('timestampLow', f.timestampLow, 0xffff)
  checkField('timestampHigh', f.timestampHigh, 0xff)
  checkField('sessionUse', f.sessionUse, 0xff)
  checkField('random', random, 0xffff)
  const plain = Buffer.alloc(TOKEN_BYTES)
  f.privateUid.copy(plain, 0)
  plain.writeUInt16LE(f.counter, 6)
  plain.writeUInt16LE(f.timestampLow, 8)
  plain[10] = f.timestampHigh
  plain[11] = f.sessionUse
  plain.writeUInt16LE(random, 12)
  plain.writeUInt16LE(~crc16(plain.subarray(0, 14)) & 0xffff, 14)
  return plain
}

/** The inverse of decrypt + parse: a complete OTP string (public id ‖ encrypted token), for tests and tools. */
export function encodeOtp (f: OtpSecretsAndFields): string {
  checkKey(f.aesKey)
  if (!isModhex(f.publicId) || f.publicId.length > MAX_PUBLIC_ID_LENGTH) {
    throw new Error(`public id must be 0-${MAX_PUBLIC_ID_LENGTH} lower-case modhex characters`)
  }
  const plain = encodeTokenPlaintext(f)
  const cipher = createCipheriv('aes-128-ecb', f.aesKey, null)
  cipher.setAutoPadding(false)
  const token = Buffer.concat([cipher.update(plain), cipher.final()])
  plain.fill(0)
  return f.publicId + bytesToModhex(token)
}
