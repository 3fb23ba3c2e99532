// `yubival keys export`: the secrets of the whole AEAD tree as yhsm-decrypt-aead --format yubikey-csv prints them.
import { createHash } from 'node:crypto'
import { Option, type Command } from 'commander'
import { formatYubikeyCsvLine, type Keyfile } from '../../ksm/index.js'
import { exportYkval } from '../admin/keys-ykval.js'
import { openKeyTools } from '../ksm-setup.js'
import { addDatabaseOptions, configFromOptions, type CommonOptionValues } from '../options.js'
import { keysCommand, stderrIo } from './common.js'
import { withAeadRepository, type AeadRepository, type StoredAead } from './aead-repository.js'
import type { OpenedAead } from './open-aead.js'
import { mapOrdered } from './pool.js'

export const EXPORT_FORMATS = ['yubikey-csv', 'ykval'] as const

interface ExportOptions extends CommonOptionValues {
  format: typeof EXPORT_FORMATS[number]
}

const READ_AHEAD = 64

async function exportKeys (opts: ExportOptions): Promise<void> {
  const config = configFromOptions(opts)
  const { keyfile } = openKeyTools(config, stderrIo, { write: false })
  await withAeadRepository(config, async (repo) => { await exportFrom(repo, keyfile) })
}

async function exportFrom (repo: AeadRepository, keyfile: Keyfile): Promise<void> {
  if (process.stdout.isTTY === true) {
    stderrIo.warn('the output holds every YubiKey AES key and private uid in clear text; redirect it to a protected file')
  }
  let n = 0
  let total = 0
  let failed = 0
  let duplicates = 0
  // one line per credential: the same public id with the same secret under several key handles
  // (generate/import with --key-handle 1,2) is printed once, so the output can be imported again
  const seen = new Map<string, string>()
  const out: string[] = []
  const flush = (): void => {
    if (out.length > 0) process.stdout.write(out.join(''))
    out.length = 0
  }
  await mapOrdered<StoredAead, OpenedAead>(repo.all(), READ_AHEAD,
    async (e) => await e.open(keyfile),
    (opened, e) => {
      total++
      if (!opened.ok) {
        failed++
        process.stderr.write(`error: ${e.where}: ${opened.detail}\n`)
        return
      }
      const digest = createHash('sha256').update(opened.secret).digest('base64')
      const before = seen.get(e.publicId)
      if (before === digest) {
        duplicates++
      } else {
        if (before !== undefined) stderrIo.warn(`public id ${e.publicId} has different secrets in different key handle folders; both are printed (${e.where})`)
        seen.set(e.publicId, digest)
        out.push(formatYubikeyCsvLine(++n, e.publicId, opened.secret.toString('hex', 16, 22), opened.secret.toString('hex', 0, 16)) + '\n')
        if (out.length >= 1000) flush()
      }
      opened.secret.fill(0)
    })
  flush()
  const dup = duplicates > 0 ? ` (${duplicates} more AEAD${duplicates === 1 ? '' : 's'} held a credential already printed)` : ''
  if (failed > 0) {
    process.stderr.write(`error: ${failed}/${total} AEADs failed${dup}\n`)
    process.exitCode = 1
  } else if (total === 0) {
    stderrIo.warn(`no AEADs: ${repo.description} is empty`)
  } else if (dup !== '') {
    stderrIo.info(`exported ${n} credentials from ${total} AEADs${dup}`)
  }
}

export function registerExport (group: Command): void {
  addDatabaseOptions(keysCommand(group, 'export'))
    .description('print the YubiKey secrets of every AEAD in the tree (like yhsm-decrypt-aead --format yubikey-csv); ' +
      'the output contains secrets, keep it safe. --format ykval prints the counters of the yubikeys table instead, ' +
      'as ykval-export does (active,created,modified,yk_publicname,yk_counter,yk_use,yk_low,yk_high,nonce,notes)')
    .addOption(new Option('--format <format>', 'output format').choices(EXPORT_FORMATS).default('yubikey-csv'))
    .action(async (opts: ExportOptions) => { await (opts.format === 'ykval' ? exportYkval(opts) : exportKeys(opts)) })
}
