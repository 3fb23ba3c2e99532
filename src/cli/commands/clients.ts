// `yubival clients …`: a command group; gen lives here, the others in src/cli/clients/*.
import type { Command } from 'commander'
import { createClients, MAX_CLIENTS_PER_CALL } from '../../db/clients-repository.js'
import { clientsCommand } from '../clients/common.js'
import { registerClientManagement } from '../clients/manage.js'
import { registerClientTransfer } from '../clients/transfer.js'
import { CliError } from '../errors.js'
import { configFromOptions, type CommonOptionValues } from '../options.js'
import { withCliDatabase } from './migrate.js'

function parseCount (raw: string): number {
  const n = /^\d+$/.test(raw) ? Number(raw) : NaN
  if (!Number.isSafeInteger(n) || n < 1 || n > MAX_CLIENTS_PER_CALL) {
    throw new CliError(`N (number of clients) must be a whole number from 1 to ${MAX_CLIENTS_PER_CALL}, got ${JSON.stringify(raw)}`, 2)
  }
  return n
}

interface GenOptions extends CommonOptionValues {
  notes?: string
  email?: string
  otp?: string
  urandom?: boolean
}

function registerGen (group: Command): void {
  clientsCommand(group, 'gen')
    .description('create N API clients (ids after the highest existing one, random keys); prints "id,key" per line like ykval-gen-clients')
    .argument('[N]', 'number of clients to create', '1')
    .option('--notes <text>', 'notes stored with each client (max 100 characters)')
    .option('--email <addr>', 'e-mail address stored with each client (max 255 characters)')
    .option('--otp <otp>', 'OTP stored with each client, as ykval-gen-clients does (max 100 characters)')
    .option('--urandom', 'accepted for ykval-gen-clients compatibility; keys always come from the OS CSPRNG')
    .action(async (rawCount: string, opts: GenOptions) => {
      const count = parseCount(rawCount)
      const config = configFromOptions(opts)
      const made = await withCliDatabase(config, async (db) => createClients(db, {
        count,
        notes: opts.notes,
        email: opts.email,
        otp: opts.otp,
        now: Math.floor(Date.now() / 1000)
      }))
      process.stdout.write(made.map((c) => `${c.id},${c.secret}\n`).join(''))
    })
}

export function registerClientsCommands (program: Command): void {
  const group = program.command('clients').description('manage WSAPI clients (API ids and keys)')
  registerGen(group)
  registerClientManagement(group)
  registerClientTransfer(group)
}
