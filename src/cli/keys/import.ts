// `yubival keys import`: yhsm-import-keys for `# ykksm 1` CSV, all or nothing.
import { readFile } from 'node:fs/promises'
import type { Command } from 'commander'
import {
  YKKSM_HEADER, YkksmCsvError, makeYubikeyAeadFile, nonceFromPublicId, padPublicId, parseYkksmCsv, type YkksmRow
} from '../../ksm/index.js'
import { CliError } from '../errors.js'
import { openKeyTools } from '../ksm-setup.js'
import { configFromOptions, type CommonOptionValues } from '../options.js'
import { keysCommand, plural, stderrIo } from './common.js'
import { writeAeadsWithProgress, type AeadToWrite } from './write-aeads.js'

interface ImportOptions extends CommonOptionValues {
  force?: boolean
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
function skipAllZeroIds (text: string): string {
  const lines = text.split('\n')
  if (lines[0] !== YKKSM_HEADER) return text
  for (let i = 1; i < lines.length; i++) {
    const f = lines[i]!.split(',')
    const id = f[1]?.trim() ?? ''
    if (lines[i]!.startsWith('#') || f.length < 4 || !/^c+$/.test(id)) continue
    stderrIo.warn(`line ${i + 1}: skipping public id ${id}: the all-zero public id is unsupported (as in yhsm-import-keys)`)
    lines[i] = ''
  }
  return lines.join('\n')
}

function parse (text: string, name: string): YkksmRow[] {
  try {
    return parseYkksmCsv(skipAllZeroIds(text))
  } catch (err) {
    if (err instanceof YkksmCsvError) throw new CliError(`${name}: ${err.message}`)
    throw err
  }
}

async function importKeys (file: string, opts: ImportOptions): Promise<void> {
  const config = configFromOptions(opts)
  // parse everything before touching the keyfile or the tree: a bad file changes nothing
  const input = await readInput(file)
  const rows = parse(input.text, input.name)
  const { keyfile, keyHandles, aeadDir } = openKeyTools(config, stderrIo, { write: true })
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
  const written = await writeAeadsWithProgress(aeadDir, keyHandles, items, opts.force === true)
  stderrIo.info(`imported ${plural(rows.length, 'key')} from ${input.name}: ${written}`)
}

export function registerImport (group: Command): void {
  keysCommand(group, 'import')
    .description('import YubiKey credentials from a `# ykksm 1` CSV (YK-KSM provisioning format) into AEAD files, like ' +
      'yhsm-import-keys; all or nothing, never overwrites without --force')
    .argument('[file]', 'CSV file, or - for standard input', '-')
    .option('--force', 'replace AEAD files that already exist (pyhsm does this silently; yubival refuses by default)')
    .action(importKeys)
}
