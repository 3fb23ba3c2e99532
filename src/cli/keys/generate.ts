// `yubival keys generate`: yhsm-generate-keys without the HSM, and without its silent overwrites.
import { randomBytes } from 'node:crypto'
import { Option, type Command } from 'commander'
import {
  makeYubikeyAeadFile, nonceFromPublicId, parseStartPublicId, publicIdFromNumber, DEFAULT_PUBLIC_ID_CHARS
} from '../../ksm/index.js'
import { CliError } from '../errors.js'
import { openKeyTools } from '../ksm-setup.js'
import { addDatabaseOptions, configFromOptions, type CommonOptionValues } from '../options.js'
import { keysCommand, plural, stderrIo } from './common.js'
import { formatCredential, PRINT_FORMATS, type PrintFormat } from './print-formats.js'
import { withAeadRepository } from './aead-repository.js'
import type { AeadToWrite } from './write-aeads.js'

/** Every secret of a run is kept until the files are written, so a run must fit in memory comfortably. */
export const MAX_GENERATE_COUNT = 1_000_000
const SECRET_BYTES = 22

interface GenerateOptions extends CommonOptionValues {
  startPublicId: string
  count: string
  randomNonce?: boolean
  print?: PrintFormat
  force?: boolean
}

function parseCount (raw: string): number {
  const n = /^\d+$/.test(raw.trim()) ? Number(raw.trim()) : NaN
  if (!Number.isSafeInteger(n) || n < 1 || n > MAX_GENERATE_COUNT) {
    throw new CliError(`--count must be a whole number from 1 to ${MAX_GENERATE_COUNT}, got ${JSON.stringify(raw)}`, 2)
  }
  return n
}

/** The public ids of the run, checked up front so a too-large range fails before any work. */
function publicIds (rawStart: string, count: number): string[] {
  let start: bigint
  try {
    start = parseStartPublicId(rawStart)
  } catch (err) {
    throw new CliError(`--start-public-id: ${(err as Error).message}`, 2)
  }
  const last = start + BigInt(count - 1)
  if (last.toString(16).length > DEFAULT_PUBLIC_ID_CHARS) {
    throw new CliError(`--start-public-id ${rawStart} with --count ${count} runs past the largest ${DEFAULT_PUBLIC_ID_CHARS}-character public id`, 2)
  }
  const ids: string[] = []
  for (let i = 0; i < count; i++) ids.push(publicIdFromNumber(start + BigInt(i)))
  return ids
}

async function generate (opts: GenerateOptions): Promise<void> {
  const count = parseCount(opts.count)
  const ids = publicIds(opts.startPublicId, count)
  const config = configFromOptions(opts)
  const { keyfile, keyHandles } = openKeyTools(config, stderrIo, { write: true })

  // 16-byte YubiKey AES key ‖ 6-byte private uid per credential, as pyhsm splits its 22 random bytes
  const secrets = randomBytes(SECRET_BYTES * count)
  try {
    const items: AeadToWrite[] = []
    ids.forEach((publicId, i) => {
      const aesKey = secrets.subarray(i * SECRET_BYTES, i * SECRET_BYTES + 16)
      const privateUid = secrets.subarray(i * SECRET_BYTES + 16, (i + 1) * SECRET_BYTES)
      for (const kh of keyHandles) {
        const nonce = opts.randomNonce === true ? randomBytes(6) : nonceFromPublicId(publicId)
        const bytes = makeYubikeyAeadFile({ key: keyfile.get(kh.value)!, keyHandle: kh.value, nonce, aesKey, privateUid })
        items.push({ keyHandle: kh, fileName: publicId, bytes })
      }
    })

    const written = await withAeadRepository(config, async (repo) => repo.write(items, keyHandles, opts.force === true))

    if (opts.print !== undefined) {
      const format = opts.print
      const lines = ids.map((publicId, i) => formatCredential(format, {
        n: i + 1,
        publicId,
        keyHex: secrets.toString('hex', i * SECRET_BYTES, i * SECRET_BYTES + 16),
        uidHex: secrets.toString('hex', i * SECRET_BYTES + 16, (i + 1) * SECRET_BYTES)
      }))
      process.stdout.write(lines.join('\n') + '\n')
    }
    const range = count === 1 ? ids[0]! : `${ids[0]}..${ids[count - 1]}`
    stderrIo.info(`generated ${plural(count, 'key')} (${range}): ${written}` +
      (opts.print === undefined ? '; the secrets exist only inside the AEADs (use --print or `yubival keys export` to see them)' : ''))
  } finally {
    secrets.fill(0)
  }
}

export function registerGenerate (group: Command): void {
  addDatabaseOptions(keysCommand(group, 'generate'))
    .description('create random YubiKey credentials (AES key + private uid) for consecutive public ids and store one AEAD ' +
      'per key handle, like yhsm-generate-keys; never overwrites without --force')
    .requiredOption('--start-public-id <id>', 'first public id, decimal or modhex (> 0)')
    .option('-c, --count <n>', `how many keys (1..${MAX_GENERATE_COUNT})`, '1')
    .option('--random-nonce', 'store a random nonce in each AEAD instead of the public id')
    .addOption(new Option('--print <format>', 'print each new credential to stdout (contains secrets)').choices(PRINT_FORMATS))
    .option('--force', 'replace AEADs that already exist (pyhsm does this silently; yubival refuses by default)')
    .action(generate)
}
