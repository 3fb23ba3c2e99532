// CSV as yubikey-val's import tools read it (PHP fgetcsv: comma, `"` enclosure, `""` inside quotes) and
// as its export tools write it (no header, no quoting), plus the problem list every import reports.
import { CliError } from '../errors.js'

export interface CsvRecord {
  /** 1-based line on which the record starts. */
  line: number
  fields: string[]
}

/**
 * Splits text into records the way ykval-import / ykval-import-clients see them: blank lines and
 * records whose first field starts with `#` are skipped; a quoted field may hold commas, `""` and
 * line breaks; CR before LF is dropped.
 */
export function parseCsv (text: string): CsvRecord[] {
  const records: CsvRecord[] = []
  let line = 1
  let i = 0
  const n = text.length
  while (i < n) {
    const start = line
    const fields: string[] = []
    let field = ''
    let atFieldStart = true
    let endOfRecord = false
    while (i < n && !endOfRecord) {
      const c = text[i]!
      if (atFieldStart && c === '"') {
        // quoted part: up to the closing quote, `""` is a literal quote, newlines are kept
        i++
        for (;;) {
          if (i >= n) break
          const q = text[i]!
          if (q === '"') {
            if (text[i + 1] === '"') { field += '"'; i += 2; continue }
            i++
            break
          }
          if (q === '\n') line++
          field += q
          i++
        }
        atFieldStart = false
        continue
      }
      atFieldStart = false
      if (c === ',') {
        fields.push(field)
        field = ''
        atFieldStart = true
        i++
      } else if (c === '\n' || (c === '\r' && text[i + 1] === '\n')) {
        i += c === '\r' ? 2 : 1
        line++
        endOfRecord = true
      } else {
        field += c
        i++
      }
    }
    fields.push(field)
    const blank = fields.length === 1 && fields[0] === ''
    if (!blank && !fields[0]!.startsWith('#')) records.push({ line: start, fields })
  }
  return records
}

/** A field for an export line: as is (yubikey-val's output) unless it would not read back the same. */
export function csvField (value: string): string {
  return /[",\r\n]/.test(value) ? `"${value.replace(/"/g, '""')}"` : value
}

export interface CsvProblem {
  line: number
  field: string
  message: string
}

const SHOW_AT_MOST = 50

/** Every problem of an input in one error: `<source>: rejected, nothing imported` + one line each. */
export function csvRejected (source: string, problems: readonly CsvProblem[]): CliError {
  const shown = problems.slice(0, SHOW_AT_MOST).map((p) => `  line ${p.line}, ${p.field}: ${p.message}`)
  if (problems.length > shown.length) shown.push(`  ... and ${problems.length - shown.length} more`)
  const count = `${problems.length} problem${problems.length === 1 ? '' : 's'}`
  return new CliError(`${source} rejected, nothing imported (${count}):\n${shown.join('\n')}`)
}

/** Reads a whole number in [min, max] from a CSV field, or records a problem and returns undefined. */
export function intField (value: string, min: number, max: number): number | undefined {
  const t = value.trim()
  if (!/^-?\d+$/.test(t)) return undefined
  const v = Number(t)
  return Number.isSafeInteger(v) && v >= min && v <= max ? v : undefined
}

/**
 * yubikey-val's active column as its exports print it: 1/0 from MySQL, 1/'' from PostgreSQL (PHP echoes
 * false as an empty string), t/f or true/false from hand-made files.
 */
export function activeField (value: string): boolean | undefined {
  const v = value.trim().toLowerCase()
  if (['1', 't', 'true'].includes(v)) return true
  if (['0', '', 'f', 'false'].includes(v)) return false
  return undefined
}
