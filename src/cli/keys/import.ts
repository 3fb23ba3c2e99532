// `yubival keys import`: yhsm-import-keys for `# ykksm 1` CSV, all or nothing.
import { readFile } from 'node:fs/promises'
import { Option, type Command } from 'commander'
import {
  YKKSM_HEADER, YkksmCsvError, makeYubikeyAeadFile, nonceFromPublicId, padPublicId, parseYkksmCsv, type YkksmRow
} from '../../ksm/index.js'
import { CliError } from '../errors.js'
import { importYkval } from '../admin/keys-ykval.js'
import { openKeyTools } from '../ksm-setup.js'
import { addDatabaseOptions, configFromOptions, type CommonOptionValues } from '../options.js'
import { keysCommand, plural, stderrIo } from './common.js'
import { withAeadRepository } from './aead-repository.js'
import type { AeadToWrite } from './write-aeads.js'

export const IMPORT_FORMATS = ['ykksm', 'ykval'] as const

interface ImportOptions extends CommonOptionValues {
  force?: boolean
  format: typeof IMPORT_FORMATS[number]
}

async function readStdin (): Promise<string> {
  const chunks: Buffer[] = []
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer)
  return Buffer.concat(chunks).toString('utf8')
}

async function readInput (file: string): Promise<{ text: string, name: string }> {
  if (file === '-') {
    if (process.stdin.isTTY === true) stderrIo.info('reading `# ykksm 1` CSV from standard input (end with Ctrl-D)')
    return { text: await readStdin(), name: 'standard input' }
  }
  try {
    return { text: await readFile(file, 'utf8'), name: file }
  } catch (err) {
    throw new CliError(`cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`)
  }
}

/**
 * yhsm-import-keys skips the all-zero public id (the YubiHSM refuses it) with a warning and goes on;
 * so do we. Its line is blanked, which keeps every other line number as it was for error messages.
 */
function skipAllZeroIds (text: string, offset: number): string {
  const lines = text.split('\n')
  if (lines[0] !== YKKSM_HEADER) return text
  for (let i = 1; i < lines.length; i++) {
    const f = lines[i]!.split(',')
    const id = f[1]?.trim() ?? ''
    if (lines[i]!.startsWith('#') || f.length < 4 || !/^c+$/.test(id)) continue
    stderrIo.warn(`line ${i + 1 - offset}: skipping public id ${id}: the all-zero public id is unsupported (as in yhsm-import-keys)`)
    lines[i] = ''
  }
  return lines.join('\n')
}

/**
 * The PHP YK-KSM's `ykksm-export` prints its rows (serialnr,publicname,internalname,aeskey,lockcode,created,)
 * without the `# ykksm 1` line: such input gets the header, and messages keep the input's line numbers.
 */
function withHeader (text: string, name: string): { text: string, offset: number } {
  const first = text.split('\n', 1)[0]!
  if (first.startsWith('# ykksm') || first.replace(/\r$/, '') === YKKSM_HEADER) return { text, offset: 0 }
  stderrIo.info(`${name} has no "${YKKSM_HEADER}" first line: reading it as ykksm-export output`)
  return { text: `${YKKSM_HEADER}\n${text}`, offset: 1 }
}

function parse (input: string, name: string): YkksmRow[] {
  const { text, offset } = withHeader(input, name)
  try {
    return parseYkksmCsv(skipAllZeroIds(text, offset)).map((r) => ({ ...r, line: r.line - offset }))
  } catch (err) {
    if (err instanceof YkksmCsvError) {
      throw new CliError(`${name}: ${new YkksmCsvError(err.problems.map((p) => ({ ...p, line: p.line - offset }))).message}`)
    }
    throw err
  }
}

async function importKeys (file: string, opts: ImportOptions): Promise<void> {
  if (opts.format === 'ykval') {
    await importYkval(file, opts)
    return
  }
  const config = configFromOptions(opts)
  // parse everything before touching the keyfile or the tree: a bad file changes nothing
  const input = await readInput(file)
  const rows = parse(input.text, input.name)
  const { keyfile, keyHandles } = openKeyTools(config, stderrIo, { write: true })
  if (rows.length === 0) {
    stderrIo.info(`${input.name} holds no keys; nothing imported`)
    return
  }
  const items: AeadToWrite[] = []
  for (const row of rows) {
    const aesKey = Buffer.from(row.aesKey, 'hex')
    const privateUid = Buffer.from(row.privateUid, 'hex')
    // as yhsm-import-keys: the file name is the id padded with 'c', the nonce the id as written
    const nonce = nonceFromPublicId(row.publicId)
    for (const kh of keyHandles) {
      const bytes = makeYubikeyAeadFile({ key: keyfile.get(kh.value)!, keyHandle: kh.value, nonce, aesKey, privateUid })
      items.push({ keyHandle: kh, fileName: padPublicId(row.publicId), bytes })
    }
    aesKey.fill(0)
    privateUid.fill(0)
  }
  const written = await withAeadRepository(config, async (repo) => repo.write(items, keyHandles, opts.force === true))
  stderrIo.info(`imported ${plural(rows.length, 'key')} from ${input.name}: ${written}`)
}

export function registerImport (group: Command): void {
  addDatabaseOptions(keysCommand(group, 'import'))
    .description('import YubiKey credentials from a `# ykksm 1` CSV (YK-KSM provisioning format, or the PHP YK-KSM\'s ' +
      'ykksm-export output) into AEAD files, like yhsm-import-keys; all or nothing, never overwrites without --force. ' +
      '--format ykval imports ykval-export counters into the yubikeys table instead (counters are only ever raised)')
    .argument('[file]', 'CSV file, or - for standard input', '-')
    .addOption(new Option('--format <format>', 'input format').choices(IMPORT_FORMATS).default('ykksm'))
    .option('--force', 'replace AEAD files that already exist (pyhsm does this silently; yubival refuses by default)')
    .action(importKeys)
}
