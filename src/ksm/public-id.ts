// Public ids as pyhsm's key tools count, pad and name them (reference/ksm-pyhsm.md §3.2, §6.1, §6.2).
import { hexToModhex, isModhex, modhexToHex } from '../otp/modhex.js'

export const DEFAULT_PUBLIC_ID_CHARS = 12

/** yhsm-import-keys' file name: the CSV id left-padded with `c` (modhex zero). The nonce keeps the unpadded id. */
export function padPublicId (publicId: string, chars = DEFAULT_PUBLIC_ID_CHARS): string {
  return publicId.padStart(chars, 'c')
}

/**
 * `--start-public-id`: Python int() (decimal) first, else modhex read as a hex number. Must be > 0.
 */
export function parseStartPublicId (s: string): bigint {
  const t = s.trim()
  let n: bigint
  if (/^[+]?\d+$/.test(t)) n = BigInt(t.replace('+', ''))
  else if (t !== '' && isModhex(t)) n = BigInt('0x' + modhexToHex(t))
  else throw new Error(`start public id ${JSON.stringify(s)} is neither a decimal number nor modhex`)
  if (n <= 0n) throw new Error(`start public id must be greater than 0, was ${n}`)
  return n
}

/** yhsm-generate-keys' id for a number: `%x`, zero-padded to `chars` hex digits, as modhex. */
export function publicIdFromNumber (n: bigint, chars = DEFAULT_PUBLIC_ID_CHARS): string {
  const hex = n.toString(16)
  if (n < 0n || hex.length > chars) throw new Error(`public id number ${n} does not fit in ${chars} modhex characters`)
  return hexToModhex(hex.padStart(chars, '0'))
}

/** `count` ids from `start`, counting as integers (credtivccccc, credtivccccb, credtivccccd, ...). */
export function publicIdRange (start: bigint, count: number, chars = DEFAULT_PUBLIC_ID_CHARS): string[] {
  if (!Number.isInteger(count) || count < 0) throw new Error(`count must be a whole number >= 0, got ${count}`)
  const ids: string[] = []
  for (let i = 0; i < count; i++) ids.push(publicIdFromNumber(start + BigInt(i), chars))
  return ids
}
