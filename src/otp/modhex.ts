// Modhex: Yubico's keyboard-layout-proof hex alphabet. Our own strict codec because the npm
// `modhex` package maps invalid characters to 0x00 and refuses odd lengths (public ids can be odd).

export const MODHEX_ALPHABET = 'cbdefghijklnrtuv'
const HEX_ALPHABET = '0123456789abcdef'

// Char code → nibble value, -1 for anything else; char codes above 127 are never modhex.
const MODHEX_VALUE = new Int8Array(128).fill(-1)
const HEX_VALUE = new Int8Array(128).fill(-1)
for (let i = 0; i < 16; i++) {
  MODHEX_VALUE[MODHEX_ALPHABET.charCodeAt(i)] = i
  HEX_VALUE[HEX_ALPHABET.charCodeAt(i)] = i
  HEX_VALUE[HEX_ALPHABET.toUpperCase().charCodeAt(i)] = i
}

export class ModhexError extends Error {
  constructor (message: string) {
    super(message)
    this.name = 'ModhexError'
  }
}

function nibble (table: Int8Array, s: string, i: number, what: string): number {
  const code = s.charCodeAt(i)
  const v = code < 128 ? table[code]! : -1
  if (v < 0) throw new ModhexError(`not ${what}: invalid character ${JSON.stringify(s[i])} at position ${i}`)
  return v
}

/** True if every character is lower-case modhex (the empty string counts: a public id may be empty). */
export function isModhex (s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const code = s.charCodeAt(i)
    if (code >= 128 || MODHEX_VALUE[code]! < 0) return false
  }
  return true
}

/** Modhex → lower-case hex, any length (odd lengths allowed). Throws ModhexError on a non-modhex character. */
export function modhexToHex (s: string): string {
  let out = ''
  for (let i = 0; i < s.length; i++) out += HEX_ALPHABET[nibble(MODHEX_VALUE, s, i, 'modhex')]
  return out
}

/** Hex (either case) → modhex, any length. Throws ModhexError on a non-hex character. */
export function hexToModhex (hex: string): string {
  let out = ''
  for (let i = 0; i < hex.length; i++) out += MODHEX_ALPHABET[nibble(HEX_VALUE, hex, i, 'hex')]
  return out
}

/** Modhex → bytes; the length must be even. */
export function modhexToBytes (s: string): Buffer {
  if (s.length % 2 !== 0) throw new ModhexError(`modhex string has odd length ${s.length}; bytes need an even length`)
  return modhexToBytesInto(s, Buffer.allocUnsafe(s.length / 2))
}

/** Modhex → bytes written into `out`, which must be exactly half as long as `s`; returns `out`. */
export function modhexToBytesInto<T extends Uint8Array> (s: string, out: T): T {
  if (s.length !== 2 * out.length) throw new ModhexError(`modhex string of ${s.length} characters does not fill ${out.length} bytes`)
  for (let i = 0; i < out.length; i++) {
    out[i] = (nibble(MODHEX_VALUE, s, 2 * i, 'modhex') << 4) | nibble(MODHEX_VALUE, s, 2 * i + 1, 'modhex')
  }
  return out
}

/** Bytes → modhex (two characters per byte). */
export function bytesToModhex (buf: Uint8Array): string {
  let out = ''
  for (let i = 0; i < buf.length; i++) {
    const b = buf[i]!
    out += MODHEX_ALPHABET[b >> 4]! + MODHEX_ALPHABET[b & 15]!
  }
  return out
}
