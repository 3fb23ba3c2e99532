// `yubival keys rewrap --from-key-handle A --to-key-handle B`: key rotation. Every AEAD of folder A is
// opened with the keyfile and sealed again under key handle B (same nonce, so the file is exactly what
// yhsm-decrypt-aead --format aead or a generate for B would have written), each written atomically and
// then read back and opened. Folder A is left as it was.
import { timingSafeEqual } from 'node:crypto'
import { promises as fsp } from 'node:fs'
import path from 'node:path'
import type { Command } from 'commander'
import { aeadRelativePath, KeyHandleError, makeYubikeyAeadFile, parseKeyHandle, type KeyHandle, type Keyfile } from '../../ksm/index.js'
import { isModhex } from '../../otp/index.js'
import { CliError } from '../errors.js'
import { keysCommand, plural, stderrIo } from '../keys/common.js'
import { openAeadFile, type OpenedAead } from '../keys/open-aead.js'
import { mapOrdered } from '../keys/pool.js'
import { writeAeadsWithProgress, type AeadToWrite } from '../keys/write-aeads.js'
import { openKeyTools } from '../ksm-setup.js'
import { configFromOptions, type CommonOptionValues } from '../options.js'

interface RewrapOptions extends CommonOptionValues {
  fromKeyHandle: string
  toKeyHandle: string
  force?: boolean
}

const READ_AHEAD = 64
const SHOW_AT_MOST = 20

function keyHandleOption (flag: string, typed: string, keyfile: Keyfile, file: string): KeyHandle {
  let kh: KeyHandle
  try {
    kh = parseKeyHandle(typed)
  } catch (err) {
    if (err instanceof KeyHandleError) throw new CliError(`${flag}: ${err.message}`, 2)
    throw err
  }
  if (!keyfile.has(kh.value)) throw new CliError(`${flag} ${typed}: keyfile ${file} has no key for key handle ${kh.value}`)
  return kh
}

/** The AEAD files of one key handle folder, where the layout puts them (sorted, streamed). */
async function * folderFiles (aeadDir: string, folder: string): AsyncGenerator<{ path: string, publicId: string }> {
  const base = path.join(aeadDir, folder)
  let files: string[]
  try {
    files = (await fsp.readdir(base, { recursive: true, withFileTypes: true }))
      .filter((d) => d.isFile())
      .map((d) => path.join(d.parentPath, d.name))
      .sort()
  } catch (err) {
    throw new CliError(`cannot read ${base}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`)
  }
  for (const file of files) {
    const publicId = path.basename(file)
    if (publicId === '' || !isModhex(publicId)) continue
    if (file !== path.join(aeadDir, aeadRelativePath(folder, publicId))) continue
    yield { path: file, publicId }
  }
}

async function openTarget (file: string, folder: string, publicId: string, keyfile: Keyfile): Promise<OpenedAead | 'missing'> {
  try {
    await fsp.lstat(file)
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    if (code === 'ENOENT' || code === 'ENOTDIR') return 'missing'
  }
  return await openAeadFile(file, folder, publicId, keyfile)
}

interface Source {
  publicId: string
  nonce: Buffer
  secret: Buffer
}

function refuse (what: string, lines: string[]): CliError {
  const shown = lines.slice(0, SHOW_AT_MOST).map((l) => `  ${l}`)
  if (lines.length > shown.length) shown.push(`  ... and ${lines.length - shown.length} more`)
  return new CliError(`${what}; nothing was written:\n${shown.join('\n')}`)
}

async function rewrap (opts: RewrapOptions): Promise<void> {
  const config = configFromOptions(opts)
  if (config.aeadStore !== 'files') {
    throw new CliError('keys rewrap works on the AEAD directory; with YUBIVAL_AEAD_STORE=database, `keys copy --from database ' +
      '--to files`, rewrap there, then `keys copy --from files --to database --force`', 2)
  }
  const { keyfile, aeadDir } = openKeyTools(config, stderrIo, { write: false })
  const from = keyHandleOption('--from-key-handle', opts.fromKeyHandle, keyfile, config.keyfile)
  const to = keyHandleOption('--to-key-handle', opts.toKeyHandle, keyfile, config.keyfile)
  if (from.typed === to.typed) throw new CliError('--from-key-handle and --to-key-handle name the same folder', 2)

  // 1. open every source; any failure refuses the whole run
  const sources: Source[] = []
  const failures: string[] = []
  await mapOrdered(folderFiles(aeadDir, from.typed), READ_AHEAD,
    async (f) => await openAeadFile(f.path, from.typed, f.publicId, keyfile),
    (opened, f) => {
      if (opened.ok) sources.push({ publicId: f.publicId, nonce: opened.entry.nonce, secret: opened.secret })
      else failures.push(`${path.relative(aeadDir, f.path)}: ${opened.detail}`)
    })
  const wipe = (): void => { for (const s of sources) s.secret.fill(0) }
  try {
    if (failures.length > 0) throw refuse(`${plural(failures.length, 'AEAD')} in folder ${from.typed} cannot be opened`, failures)
    if (sources.length === 0) throw new CliError(`no AEAD files in ${path.join(aeadDir, from.typed)}`)

    // 2. targets that already exist: the same secret is fine (a re-run), another one needs --force
    const items: AeadToWrite[] = []
    const conflicts: string[] = []
    let already = 0
    const toKey = keyfile.get(to.value)!
    await mapOrdered((async function * () { yield * sources })(), READ_AHEAD,
      async (s) => await openTarget(path.join(aeadDir, aeadRelativePath(to.typed, s.publicId)), to.typed, s.publicId, keyfile),
      (existing, s) => {
        if (existing !== 'missing' && existing.ok && timingSafeEqual(existing.secret, s.secret) && existing.entry.keyHandle === to.value) {
          already++
        } else {
          if (existing !== 'missing') conflicts.push(`${aeadRelativePath(to.typed, s.publicId)}: exists and ${existing.ok ? 'holds another secret' : existing.detail}`)
          items.push({
            keyHandle: to,
            fileName: s.publicId,
            bytes: makeYubikeyAeadFile({ key: toKey, keyHandle: to.value, nonce: s.nonce, aesKey: s.secret.subarray(0, 16), privateUid: s.secret.subarray(16, 22) })
          })
        }
        if (existing !== 'missing' && existing.ok) existing.secret.fill(0)
      })
    if (conflicts.length > 0 && opts.force !== true) {
      throw refuse(`${plural(conflicts.length, 'target file')} in folder ${to.typed} already exist with other contents (--force replaces them)`, conflicts)
    }

    // 3. write (each file atomically; a failure removes what this run created), then read back
    const written = items.length === 0 ? 'nothing to write' : await writeAeadsWithProgress(aeadDir, [to], items, opts.force === true)
    const bySecret = new Map(sources.map((s) => [s.publicId, s.secret]))
    const bad: string[] = []
    await mapOrdered((async function * () { yield * items })(), READ_AHEAD,
      async (a) => await openAeadFile(path.join(aeadDir, aeadRelativePath(to.typed, a.fileName)), to.typed, a.fileName, keyfile),
      (check, a) => {
        if (!check.ok || !timingSafeEqual(check.secret, bySecret.get(a.fileName)!)) bad.push(`${aeadRelativePath(to.typed, a.fileName)}: ${check.ok ? 'holds another secret' : check.detail}`)
        if (check.ok) check.secret.fill(0)
      })
    if (bad.length > 0) throw new CliError(`verification failed for ${plural(bad.length, 'rewrapped file')}:\n${bad.slice(0, SHOW_AT_MOST).map((l) => `  ${l}`).join('\n')}`)
    const skipped = already > 0 ? ` (${already} already there with the same secret)` : ''
    stderrIo.info(`rewrapped ${plural(sources.length, 'AEAD')} of key handle ${from.typed} to key handle ${to.typed}${skipped}: ` +
      `${written}; every result was read back and opened. Folder ${from.typed} is unchanged: put ${to.typed} first in ` +
      `YUBIVAL_KEY_HANDLES, restart the servers, then retire key handle ${from.typed} (move its folder out of the tree; \`yubival keys check --key-handle ${to.typed}\` then passes)`)
  } finally {
    wipe()
  }
}

export function registerRewrap (group: Command): void {
  keysCommand(group, 'rewrap')
    .description('key rotation: re-encrypt every AEAD of one key handle under another key of the keyfile (same nonce), ' +
      'writing <aead dir>/<to>/…/<id> atomically per file and checking each result; nothing is written if any source ' +
      'cannot be opened')
    .requiredOption('--from-key-handle <kh>', 'key handle folder to read (must be in the keyfile)')
    .requiredOption('--to-key-handle <kh>', 'key handle to write (must be in the keyfile)')
    .option('--force', 'replace target files that exist with other contents')
    .action(rewrap)
}
