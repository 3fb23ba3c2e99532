// Key handles as pyhsm parses them (reference/ksm-pyhsm.md §1.1, §1.3).

export const MAX_KEY_HANDLE = 0xffffffff

export interface KeyHandle {
  /** Exactly as typed: it names the folder under the AEAD directory (`0x1` and `1` are different folders). */
  typed: string
  /** The uint32 that enters the AEAD crypto. */
  value: number
}

export class KeyHandleError extends Error {
  constructor (message: string) {
    super(message)
    this.name = 'KeyHandleError'
  }
}

// Python 2 int(s) for base 10: optional ASCII whitespace around, optional sign, digits.
const PY_INT_RE = /^[ \t\n\r\v\f]*([+-]?)(\d+)[ \t\n\r\v\f]*$/
const HEX_RE = /^0x([0-9a-fA-F]+)$/

/** Python's `int(s)` (base 10) restricted to uint32; undefined if Python would refuse the string. */
export function parsePythonUint32 (s: string): number | undefined {
  const m = PY_INT_RE.exec(s)
  if (m === null) return undefined
  const n = Number(m[2])
  const value = m[1] === '-' ? -n : n
  if (!Number.isSafeInteger(value) || value < 0 || value > MAX_KEY_HANDLE) {
    throw new KeyHandleError(`key handle ${JSON.stringify(s)} is out of range (must be 0..${MAX_KEY_HANDLE})`)
  }
  // -0 is 0
  return value === 0 ? 0 : value
}

/**
 * `pyhsm.util.key_handle_to_int`: decimal, else `0x` hex (lower-case prefix), else a 4-byte name read as
 * little-endian uint32 (`KSM1` → 0x314d534b). The typed string is kept because it names a folder.
 */
export function parseKeyHandle (typed: string): KeyHandle {
  if (typeof typed !== 'string' || typed === '') throw new KeyHandleError('key handle must not be empty')
  if (/[/\\\0]/.test(typed) || typed === '.' || typed === '..') {
    throw new KeyHandleError(`key handle ${JSON.stringify(typed)} cannot name a folder (contains / \\ or NUL, or is . or ..)`)
  }
  const decimal = parsePythonUint32(typed)
  if (decimal !== undefined) return { typed, value: decimal }
  const hex = HEX_RE.exec(typed)
  if (hex !== null) {
    const value = parseInt(hex[1]!, 16)
    if (value > MAX_KEY_HANDLE || hex[1]!.replace(/^0+/, '').length > 8) {
      throw new KeyHandleError(`key handle ${JSON.stringify(typed)} is out of range (must be 0..0xffffffff)`)
    }
    return { typed, value }
  }
  const bytes = Buffer.from(typed, 'utf8')
  if (bytes.length === 4) return { typed, value: bytes.readUInt32LE(0) }
  throw new KeyHandleError(`could not parse key handle ${JSON.stringify(typed)}: expected a decimal number, 0x-prefixed hex, or a 4-character name`)
}

/** Parses a list of typed key handles, refusing duplicates (same folder twice would be tried twice). */
export function parseKeyHandles (typed: readonly string[]): KeyHandle[] {
  if (typed.length === 0) throw new KeyHandleError('at least one key handle is needed')
  const seen = new Set<string>()
  return typed.map((t) => {
    if (seen.has(t)) throw new KeyHandleError(`key handle ${JSON.stringify(t)} is listed twice`)
    seen.add(t)
    return parseKeyHandle(t)
  })
}
