// `keys export --format ykval` / `keys import --format ykval`: yubikey-val's ykval-export / ykval-import
// CSV (`active,created,modified,yk_publicname,yk_counter,yk_use,yk_low,yk_high,nonce,notes`, low before
// high, ordered by public id, no header).
import type { YubikeyRecord } from '../../db/types.js'
import { importYubikeys, listYubikeys } from '../../db/yubikeys-admin.js'
import { isModhex } from '../../otp/index.js'
import { withCliDatabase } from '../commands/migrate.js'
import { configFromOptions, type CommonOptionValues } from '../options.js'
import { activeField, csvField, csvRejected, intField, parseCsv, type CsvProblem } from './csv.js'
import { readInput } from './input.js'

const INT_MIN = -(2 ** 31)
const INT_MAX = 2 ** 31 - 1
// -1 is yubikey-val's "never seen"; otherwise the widths of the OTP fields
const COUNTERS = [['yk_counter', 0xffff], ['yk_use', 0xff], ['yk_low', 0xffff], ['yk_high', 0xff]] as const

export function formatYkvalCsv (rows: readonly YubikeyRecord[]): string {
  return rows.map((r) => [r.active ? '1' : '0', String(r.created), String(r.modified), r.publicId, String(r.counter),
    String(r.use), String(r.low), String(r.high), r.nonce, r.notes].map(csvField).join(',') + '\n').join('')
}

/** Parses and checks a whole ykval-export CSV; every problem is collected. */
export function parseYkvalCsv (text: string): { rows: YubikeyRecord[], problems: CsvProblem[] } {
  const rows: YubikeyRecord[] = []
  const problems: CsvProblem[] = []
  const firstLine = new Map<string, number>()
  for (const { line, fields } of parseCsv(text)) {
    const bad = (field: string, message: string): void => { problems.push({ line, field, message }) }
    // yubikey-val's own format document shows lines without the notes column
    if (fields.length !== 9 && fields.length !== 10) {
      bad('line', `expected 10 comma-separated fields (active,created,modified,yk_publicname,yk_counter,yk_use,yk_low,yk_high,nonce,notes), got ${fields.length}`)
      continue
    }
    const before = problems.length
    const [rawActive, rawCreated, rawModified, publicId, , , , , nonce, notes = ''] = fields as [string, string, string, string, ...string[]]
    const active = activeField(rawActive)
    if (active === undefined) bad('active', `must be 1 or 0, got ${JSON.stringify(rawActive)}`)
    const created = intField(rawCreated, INT_MIN, INT_MAX)
    if (created === undefined) bad('created', `must be a Unix time in seconds, got ${JSON.stringify(rawCreated)}`)
    const modified = intField(rawModified, INT_MIN, INT_MAX)
    if (modified === undefined) bad('modified', `must be a Unix time in seconds (or -1), got ${JSON.stringify(rawModified)}`)
    if (publicId === '' || publicId.length > 16 || !isModhex(publicId)) {
      bad('yk_publicname', `must be 1-16 lower-case modhex characters, got ${JSON.stringify(publicId)}`)
    } else if (firstLine.has(publicId)) {
      bad('yk_publicname', `public id ${publicId} is also on line ${firstLine.get(publicId)}`)
    } else {
      firstLine.set(publicId, line)
    }
    const counters = COUNTERS.map(([name, max], i) => {
      const raw = fields[4 + i]!
      const v = intField(raw, -1, max)
      if (v === undefined) bad(name, `must be a whole number from -1 to ${max}, got ${JSON.stringify(raw)}`)
      return v
    })
    if (nonce!.length > 40) bad('nonce', `is ${nonce!.length} characters long; the yubikeys table allows at most 40`)
    if (notes.length > 100) bad('notes', `is ${notes.length} characters long; the yubikeys table allows at most 100`)
    if (problems.length !== before) continue
    const [counter, use, low, high] = counters as [number, number, number, number]
    rows.push({ publicId, active: active!, created: created!, modified: modified!, counter, use, low, high, nonce: nonce!, notes })
  }
  return { rows, problems }
}

export async function exportYkval (opts: CommonOptionValues): Promise<void> {
  const rows = await withCliDatabase(configFromOptions(opts), listYubikeys)
  process.stdout.write(formatYkvalCsv(rows))
}

const some = (ids: string[]): string => ids.length <= 10 ? ids.join(', ') : `${ids.slice(0, 10).join(', ')}, ...`

export async function importYkval (file: string, opts: CommonOptionValues): Promise<void> {
  const config = configFromOptions(opts)
  const input = await readInput(file, 'ykval-export CSV')
  const { rows, problems } = parseYkvalCsv(input.text)
  if (problems.length > 0) throw csvRejected(input.name, problems)
  const result = await withCliDatabase(config, async (db) => importYubikeys(db, rows))
  const parts = [`${result.inserted.length} new`, `${result.updated.length} with raised counters`]
  if (result.unchanged.length > 0) {
    parts.push(`${result.unchanged.length} unchanged (stored counters as high or higher: ${some(result.unchanged)})`)
  }
  process.stderr.write(`yubival: imported ${rows.length} key${rows.length === 1 ? '' : 's'} from ${input.name} ` +
    `into the yubikeys table: ${parts.join(', ')}\n`)
}
