// The `# ykksm 1` key provisioning format (reference/ksm-pyhsm.md §6.2) and yhsm-decrypt-aead's CSV output.
import { isModhex } from '../otp/modhex.js'
import { DEFAULT_PUBLIC_ID_CHARS, padPublicId } from './public-id.js'

export const YKKSM_HEADER = '# ykksm 1'

export interface YkksmRow {
  /** 1-based line number in the input. */
  line: number
  serialNr: string
  /** Modhex public id exactly as in the file (not padded). */
  publicId: string
  /** Private uid, 12 lower-case hex characters. */
  privateUid: string
  /** YubiKey AES key, 32 lower-case hex characters. */
  aesKey: string
  lockCode: string
  created: string
  accessed: string
  /** Anything after `accessed` (progflags, or the PHP export's extra columns), untouched. */
  extra: string[]
}

export interface YkksmProblem {
  line: number
  field: string
  message: string
}

export class YkksmCsvError extends Error {
  constructor (readonly problems: YkksmProblem[]) {
    const shown = problems.slice(0, 50).map((p) => `  line ${p.line}, ${p.field}: ${p.message}`)
    if (problems.length > shown.length) shown.push(`  ... and ${problems.length - shown.length} more`)
    super(`ykksm CSV rejected, nothing imported (${problems.length} problem${problems.length === 1 ? '' : 's'}):\n${shown.join('\n')}`)
    this.name = 'YkksmCsvError'
  }
}

const HEX12 = /^[0-9a-fA-F]{12}$/
const HEX32 = /^[0-9a-fA-F]{32}$/

/**
 * Parses a whole `# ykksm 1` file, all or nothing: every problem is collected (line, field, why; never
 * key material) and thrown together. `#` lines and blank lines are skipped (pyhsm crashes on blank lines).
 * `publicIdChars` is the padded file-name length, used to find ids that would land on the same file.
 */
export function parseYkksmCsv (text: string, opts: { publicIdChars?: number } = {}): YkksmRow[] {
  const chars = opts.publicIdChars ?? DEFAULT_PUBLIC_ID_CHARS
  const lines = text.split('\n')
  if (lines[0] !== YKKSM_HEADER) {
    const why = lines[0] === `${YKKSM_HEADER}\r` ? ' (it ends with CR: convert Windows line endings first)' : ''
    throw new YkksmCsvError([{ line: 1, field: 'header', message: `the first line must be exactly "${YKKSM_HEADER}"${why}` }])
  }
  const rows: YkksmRow[] = []
  const problems: YkksmProblem[] = []
  const fileNames = new Map<string, number>()
  for (let i = 1; i < lines.length; i++) {
    const line = i + 1
    const raw = lines[i]!.replace(/\r$/, '')
    if (raw.trim() === '' || raw.startsWith('#')) continue
    const f = raw.split(',').map((s) => s.trim())
    const bad = (field: string, message: string): void => { problems.push({ line, field, message }) }
    if (f.length < 4) {
      bad('line', `expected at least 4 comma-separated fields (serialnr,identity,internaluid,aeskey,...), got ${f.length}`)
      continue
    }
    const [serialNr, publicId, uid, key] = f as [string, string, string, string]
    const before = problems.length
    if (!/^\d*$/.test(serialNr)) bad('serialnr', 'must be a decimal number')
    if (publicId === '' || !isModhex(publicId)) bad('identity', `public id ${JSON.stringify(publicId)} must be lower-case modhex`)
    else if (publicId.length % 2 !== 0 || publicId.length > 12) {
      bad('identity', `public id ${JSON.stringify(publicId)} must have an even length of 2-12 characters (it is also the AEAD nonce)`)
    } else if (/^c+$/.test(padPublicId(publicId, chars))) bad('identity', 'the all-zero public id is not supported (pyhsm skips it)')
    else {
      const name = padPublicId(publicId, chars)
      const first = fileNames.get(name)
      if (first !== undefined) bad('identity', `public id ${JSON.stringify(publicId)} gives file name ${name}, like line ${first}`)
      else fileNames.set(name, line)
    }
    if (!HEX12.test(uid)) bad('internaluid', 'private uid must be 12 hex characters')
    if (!HEX32.test(key)) bad('aeskey', 'AES key must be 32 hex characters (16 bytes)')
    if (problems.length !== before) continue
    rows.push({
      line,
      serialNr,
      publicId,
      privateUid: uid.toLowerCase(),
      aesKey: key.toLowerCase(),
      lockCode: f[4] ?? '',
      created: f[5] ?? '',
      accessed: f[6] ?? '',
      extra: f.slice(7)
    })
  }
  if (problems.length > 0) throw new YkksmCsvError(problems)
  return rows
}

/** One line of `yhsm-decrypt-aead --format yubikey-csv`: `%i,%s,%s,%s,000000000000,,,,,,` (11 fields). */
export function formatYubikeyCsvLine (n: number, publicId: string, uidHex: string, keyHex: string): string {
  return `${n},${publicId},${uidHex},${keyHex},000000000000,,,,,,`
}
