// `yubival keys copy --from files --to database` (and back): moves AEADs between the stores, every one
// authenticated with the keyfile before anything is written and read back afterwards.
import { Option, type Command } from 'commander'
import { AEAD_STORES, type AeadStoreKind, type Config } from '../../config.js'
import { parseKeyHandle, serialiseAeadFile, type KeyHandle, type Keyfile } from '../../ksm/index.js'
import { CliError } from '../errors.js'
import { openKeyTools } from '../ksm-setup.js'
import { addDatabaseOptions, configFromOptions, type CommonOptionValues } from '../options.js'
import { withAeadRepository, type AeadRepository } from './aead-repository.js'
import { keysCommand, plural, stderrIo } from './common.js'
import type { AeadToWrite } from './write-aeads.js'

interface CopyOptions extends CommonOptionValues {
  from: AeadStoreKind
  to: AeadStoreKind
  force?: boolean
}

/** Every AEAD of the source, authenticated; any failure refuses the copy before anything is written. */
async function readAll (repo: AeadRepository, keyfile: Keyfile, configured: readonly KeyHandle[]): Promise<AeadToWrite[]> {
  const items: AeadToWrite[] = []
  const failures: string[] = []
  for await (const a of repo.all()) {
    const opened = await a.open(keyfile)
    if (!opened.ok) {
      failures.push(`${a.where}: ${opened.detail}`)
      continue
    }
    opened.secret.fill(0)
    const e = opened.entry
    // a row has no folder name: use the configured spelling of its key handle (pyhsm's folder rule)
    const keyHandle = repo.kind === 'files'
      ? parseKeyHandle(a.folder)
      : configured.find((kh) => kh.value === e.keyHandle) ?? parseKeyHandle(String(e.keyHandle))
    items.push({ keyHandle, fileName: a.publicId, bytes: serialiseAeadFile(e.keyHandle, e.nonce, e.aead) })
  }
  if (failures.length > 0) {
    const shown = failures.slice(0, 10).map((f) => `  ${f}`)
    if (failures.length > shown.length) shown.push(`  ... and ${failures.length - shown.length} more`)
    throw new CliError(`${plural(failures.length, 'AEAD')} in ${repo.description} cannot be authenticated with the keyfile; ` +
      `nothing was copied (fix them or remove them first):\n${shown.join('\n')}`)
  }
  return items
}

/** Reads the target back: every copied public id must be there and open with the keyfile. */
async function verifyCopied (repo: AeadRepository, keyfile: Keyfile, items: readonly AeadToWrite[]): Promise<void> {
  const wanted = new Set(items.map((i) => i.fileName))
  const ok = new Set<string>()
  for await (const a of repo.all()) {
    if (!wanted.has(a.publicId)) continue
    const opened = await a.open(keyfile)
    if (opened.ok) {
      opened.secret.fill(0)
      ok.add(a.publicId)
    }
  }
  const missing = [...wanted].filter((id) => !ok.has(id))
  if (missing.length > 0) {
    throw new CliError(`read-back check failed: ${plural(missing.length, 'public id')} not found or not authenticated in ` +
      `${repo.description} after copying (first: ${missing[0]})`)
  }
}

async function copy (opts: CopyOptions): Promise<void> {
  if (opts.from === opts.to) throw new CliError(`--from and --to are both ${opts.from}; nothing to copy`, 2)
  const config: Config = configFromOptions(opts)
  const { keyfile, keyHandles } = openKeyTools({ ...config, aeadStore: 'files' }, stderrIo, { write: opts.to === 'files' })
  const items = await withAeadRepository(config, async (src) => readAll(src, keyfile, keyHandles), opts.from)
  if (items.length === 0) {
    stderrIo.info('the source holds no AEADs; nothing copied')
    return
  }
  const handles = [...new Map(items.map((i) => [i.keyHandle.typed, i.keyHandle])).values()]
  const written = await withAeadRepository(config, async (dst) => {
    const summary = await dst.write(items, handles, opts.force === true)
    await verifyCopied(dst, keyfile, items)
    return summary
  }, opts.to)
  stderrIo.info(`copied and verified ${plural(items.length, 'AEAD')} from ${opts.from} to ${opts.to}: ${written}`)
}

export function registerCopy (group: Command): void {
  addDatabaseOptions(keysCommand(group, 'copy'))
    .description('copy every AEAD between the AEAD directory (files) and the database (aead_table), authenticating ' +
      'each with the keyfile first and reading them back after; all or nothing, never overwrites without --force')
    .addOption(new Option('--from <store>', 'source store').choices(AEAD_STORES).makeOptionMandatory())
    .addOption(new Option('--to <store>', 'target store').choices(AEAD_STORES).makeOptionMandatory())
    .option('--force', 'replace AEADs that already exist in the target')
    .action(copy)
}
