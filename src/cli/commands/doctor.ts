// `yubival doctor`: checks the setup from configuration to a live round trip, one line per check.
import { Option, type Command } from 'commander'
import type { Config } from '../../config.js'
import { parseKeyHandles } from '../../ksm/index.js'
import { checkAeadDir, checkAeads, checkClients, checkDatabase, checkKeyfile } from '../doctor/local-checks.js'
import { liveChecks } from '../doctor/live-check.js'
import { check, oneLine, type CheckResult } from '../doctor/types.js'
import { CliError } from '../errors.js'
import { keysCommand } from '../keys/common.js'
import { addDatabaseOptions, configFromOptions, type CommonOptionValues } from '../options.js'
import { describeDatabase } from './migrate.js'

interface DoctorOptions extends CommonOptionValues {
  json?: boolean
  url?: string
  id?: string
  key?: string
}

async function runChecks (opts: DoctorOptions): Promise<CheckResult[]> {
  const live = [opts.url, opts.id, opts.key]
  if (live.some((v) => v !== undefined) && live.some((v) => v === undefined)) {
    throw new CliError('--url, --id and --key go together (the live check signs its requests with that client)', 2)
  }
  let config: Config
  try {
    config = configFromOptions(opts)
    parseKeyHandles(config.keyHandles)
  } catch (err) {
    return [check('configuration', 'fail', oneLine(err))]
  }
  const results = [check('configuration', 'ok', `keyfile ${config.keyfile}, AEAD directory ${config.aeadDir}, ` +
    `key handles ${config.keyHandles.join(', ')}, ${describeDatabase(config)}`)]
  const { result, keyfile } = await checkKeyfile(config)
  results.push(result, await checkAeadDir(config))
  results.push(keyfile === null || results.at(-1)!.status === 'fail'
    ? check('keys check', 'skip', 'needs a usable keyfile and AEAD directory')
    : await checkAeads(config))
  const database = await checkDatabase(config)
  results.push(...database.results)
  try {
    results.push(database.db === null ? check('clients', 'skip', 'needs the database') : await checkClients(database.db))
    if (opts.url !== undefined) results.push(...await liveChecks(config, keyfile, database.db, { url: opts.url, id: opts.id!, key: opts.key! }))
  } finally {
    await database.db?.close()
  }
  return results
}

const LABEL = { ok: 'ok  ', warn: 'warn', fail: 'FAIL', skip: 'skip' } as const

export function registerDoctorCommand (program: Command): void {
  addDatabaseOptions(keysCommand(program, 'doctor'))
    .description('check configuration, keyfile, AEAD directory (and every AEAD), database and clients; with --url/--id/--key ' +
      'also verify a throwaway key through the running server. One line per check; exit 1 if any check fails')
    .option('--json', 'print the results as JSON')
    .addOption(new Option('--url <url>', 'the running server (http://host:port, or its full verify URL)'))
    .addOption(new Option('--id <id>', 'client id for the live check'))
    .addOption(new Option('--key <key>', 'that client\'s base64 key (signs the requests and checks the answers)'))
    .action(async (opts: DoctorOptions) => {
      const results = await runChecks(opts)
      const failed = results.filter((r) => r.status === 'fail')
      if (opts.json === true) {
        process.stdout.write(JSON.stringify({ ok: failed.length === 0, checks: results }, null, 2) + '\n')
      } else {
        process.stdout.write(results.map((r) => `${LABEL[r.status]}  ${r.name}: ${r.detail}\n`).join(''))
      }
      if (failed.length > 0) throw new CliError(`${failed.length} check${failed.length === 1 ? '' : 's'} failed: ${failed.map((r) => r.name).join(', ')}`)
    })
}
