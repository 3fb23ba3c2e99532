// `yubival clients export` / `clients import`: ykval-export-clients / ykval-import-clients CSV
// (`id,active,created,secret,email,notes,otp`, no header, ordered by id).
import type { Command } from 'commander'
import { MAX_CLIENT_ID } from '../../db/clients-repository.js'
import { ClientConflictError, exportClients, importClients, type ClientImportRow } from '../../db/clients-admin.js'
import { activeField, csvField, csvRejected, intField, parseCsv, type CsvProblem } from '../admin/csv.js'
import { readInput } from '../admin/input.js'
import { withCliDatabase } from '../commands/migrate.js'
import { configFromOptions, type CommonOptionValues } from '../options.js'
import { clientsCommand, say } from './common.js'

const INT_MIN = -(2 ** 31)
const INT_MAX = 2 ** 31 - 1
const LIMITS = { secret: 60, email: 255, notes: 100, otp: 100 } as const

/** Parses and checks a whole clients CSV; every problem is collected (never quoting a secret). */
export function parseClientsCsv (text: string): { rows: ClientImportRow[], problems: CsvProblem[] } {
  const rows: ClientImportRow[] = []
  const problems: CsvProblem[] = []
  const firstLine = new Map<number, number>()
  for (const { line, fields } of parseCsv(text)) {
    const bad = (field: string, message: string): void => { problems.push({ line, field, message }) }
    if (fields.length < 4 || fields.length > 7) {
      bad('line', `expected 7 comma-separated fields (id,active,created,secret,email,notes,otp), got ${fields.length}`)
      continue
    }
    const before = problems.length
    const [rawId, rawActive, rawCreated, secret, email = '', notes = '', otp = ''] = fields as [string, string, string, string, ...string[]]
    const id = intField(rawId, 1, MAX_CLIENT_ID)
    if (id === undefined) bad('id', `must be a whole number from 1 to ${MAX_CLIENT_ID}, got ${JSON.stringify(rawId)}`)
    else if (firstLine.has(id)) bad('id', `client id ${id} is also on line ${firstLine.get(id)}`)
    else firstLine.set(id, line)
    const active = activeField(rawActive)
    if (active === undefined) bad('active', `must be 1 or 0, got ${JSON.stringify(rawActive)}`)
    const created = intField(rawCreated, INT_MIN, INT_MAX)
    if (created === undefined) bad('created', `must be a Unix time in seconds, got ${JSON.stringify(rawCreated)}`)
    if (secret === '') bad('secret', 'is empty')
    else if (!/^[\x21-\x7e]+$/.test(secret)) bad('secret', 'may contain only printable ASCII characters without spaces')
    for (const [field, value] of [['secret', secret], ['email', email], ['notes', notes], ['otp', otp]] as const) {
      if (value.length > LIMITS[field]) bad(field, `is ${value.length} characters long; the clients table allows at most ${LIMITS[field]}`)
    }
    if (problems.length === before) rows.push({ line, id: id!, active: active!, created: created!, secret, email, notes, otp })
  }
  return { rows, problems }
}

export function formatClientsCsv (clients: ReadonlyArray<{ id: number, active: boolean, created: number, secret: string, email: string | null, notes: string, otp: string }>): string {
  return clients.map((c) => [String(c.id), c.active ? '1' : '0', String(c.created), c.secret, c.email ?? '', c.notes, c.otp]
    .map(csvField).join(',') + '\n').join('')
}

const list = (ids: number[]): string => ids.length <= 20 ? ids.join(', ') : `${ids.slice(0, 20).join(', ')}, ...`

function registerExport (group: Command): void {
  clientsCommand(group, 'export')
    .description('print every client as ykval-export-clients does: id,active,created,secret,email,notes,otp per line, ' +
      'ordered by id (contains the client secrets)')
    .action(async (opts: CommonOptionValues) => {
      const clients = await withCliDatabase(configFromOptions(opts), exportClients)
      process.stdout.write(formatClientsCsv(clients))
    })
}

interface ImportOptions extends CommonOptionValues {
  replace?: boolean
}

function registerImport (group: Command): void {
  clientsCommand(group, 'import')
    .description('import clients from ykval-export-clients CSV (id,active,created,secret,email,notes,otp), keeping ids, ' +
      'secrets and created times; all or nothing. An id that exists with the same secret is left as it is')
    .argument('[file]', 'CSV file, or - for standard input', '-')
    .option('--replace', 'overwrite existing ids whose secret differs (default: refuse the whole import)')
    .action(async (file: string, opts: ImportOptions) => {
      const config = configFromOptions(opts)
      const input = await readInput(file, 'clients CSV')
      const { rows, problems } = parseClientsCsv(input.text)
      if (problems.length > 0) throw csvRejected(input.name, problems)
      if (rows.length === 0) {
        say(`${input.name} holds no clients; nothing imported`)
        return
      }
      const result = await withCliDatabase(config, async (db) => {
        try {
          return await importClients(db, rows, { replace: opts.replace === true })
        } catch (err) {
          if (!(err instanceof ClientConflictError)) throw err
          throw csvRejected(input.name, err.conflicts.map((c) => ({
            line: c.line, field: 'secret', message: `client id ${c.id} already exists with a different secret (--replace overwrites it)`
          })))
        }
      })
      const parts = [`${result.inserted.length} new`]
      if (result.unchanged.length > 0) parts.push(`${result.unchanged.length} unchanged (already there with the same secret: ${list(result.unchanged)})`)
      if (result.replaced.length > 0) parts.push(`${result.replaced.length} replaced (${list(result.replaced)})`)
      say(`imported ${rows.length} client${rows.length === 1 ? '' : 's'} from ${input.name}: ${parts.join(', ')}`)
    })
}

export function registerClientTransfer (group: Command): void {
  registerExport(group)
  registerImport(group)
}
