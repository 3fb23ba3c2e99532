// `yubival clients list | disable | enable | rotate`.
import type { Command } from 'commander'
import { listClients, rotateClientSecret, setClientActive } from '../../db/clients-admin.js'
import { formatTable } from '../admin/table.js'
import { withCliDatabase } from '../commands/migrate.js'
import { CliError } from '../errors.js'
import { configFromOptions, type CommonOptionValues } from '../options.js'
import { clientsCommand, isoTime, parseClientId, say } from './common.js'

interface ListOptions extends CommonOptionValues {
  json?: boolean
}

function registerList (group: Command): void {
  clientsCommand(group, 'list')
    .description('list the clients (id, active, created, e-mail, notes); never shows secrets')
    .option('--json', 'print a JSON array')
    .action(async (opts: ListOptions) => {
      const clients = await withCliDatabase(configFromOptions(opts), listClients)
      if (opts.json === true) {
        const out = clients.map((c) => ({ ...c, createdIso: isoTime(c.created) }))
        process.stdout.write(JSON.stringify(out, null, 2) + '\n')
        return
      }
      if (clients.length === 0) {
        say('no clients (create one with `yubival clients gen`)')
        return
      }
      process.stdout.write(formatTable([['ID', 'ACTIVE', 'CREATED', 'EMAIL', 'NOTES'],
        ...clients.map((c) => [String(c.id), c.active ? 'yes' : 'no', isoTime(c.created) ?? String(c.created), c.email ?? '', c.notes])]))
    })
}

function registerActive (group: Command, name: 'enable' | 'disable'): void {
  const active = name === 'enable'
  clientsCommand(group, name)
    .description(active
      ? 'let a disabled client verify OTPs again'
      : 'stop a client from verifying OTPs (its requests get NO_SUCH_CLIENT); every replica applies it within YUBIVAL_CLIENT_CACHE_MS')
    .argument('<ID>', 'client id')
    .action(async (rawId: string, opts: CommonOptionValues) => {
      const id = parseClientId(rawId)
      const result = await withCliDatabase(configFromOptions(opts), async (db) => setClientActive(db, id, active))
      if (result === 'missing') throw new CliError(`no client with id ${id}`)
      process.stdout.write(`client ${id} ${result === 'changed' ? (active ? 'enabled' : 'disabled') : `was already ${active ? 'enabled' : 'disabled'}`}\n`)
    })
}

function registerRotate (group: Command): void {
  clientsCommand(group, 'rotate')
    .description('give a client a new random key and print it once as "id,key"; the old key stops working ' +
      '(on every replica within YUBIVAL_CLIENT_CACHE_MS)')
    .argument('<ID>', 'client id')
    .action(async (rawId: string, opts: CommonOptionValues) => {
      const id = parseClientId(rawId)
      const secret = await withCliDatabase(configFromOptions(opts), async (db) => rotateClientSecret(db, id))
      if (secret === null) throw new CliError(`no client with id ${id}`)
      process.stdout.write(`${id},${secret}\n`)
    })
}

export function registerClientManagement (group: Command): void {
  registerList(group)
  registerActive(group, 'disable')
  registerActive(group, 'enable')
  registerRotate(group)
}
