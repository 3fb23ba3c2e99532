// `yubival keys list | disable | enable | reset | delete`: the replay-protection state of each YubiKey
// (the yubikeys table) next to its AEADs.
import type { Command } from 'commander'
import type { YubikeyRecord } from '../../db/types.js'
import { deleteYubikeyRow, listYubikeys, resetYubikeyCounters, setYubikeyActive } from '../../db/yubikeys-admin.js'
import { isoTime } from '../clients/common.js'
import { withCliDatabase } from '../commands/migrate.js'
import { CliError } from '../errors.js'
import { keysCommand } from '../keys/common.js'
import { addDatabaseOptions, configFromOptions, type CommonOptionValues } from '../options.js'
import { withAeadRepository } from '../keys/aead-repository.js'
import { parsePublicIdArg } from './aead-locate.js'
import { formatTable } from './table.js'
import { queueKeyState } from '../sync/queue-state.js'
import { SyncQueueRepository } from '../../db/sync-queue-repository.js'

/** `keys <name>` with the KSM options (for the AEAD directory) and the database options. */
export function keysDbCommand (group: Command, name: string): Command {
  return addDatabaseOptions(keysCommand(group, name))
}

export interface KeyListEntry {
  publicId: string
  /** False: never used (no row yet); the counters are then -1. */
  inDatabase: boolean
  active: boolean
  counter: number
  use: number
  low: number
  high: number
  created: number | null
  /** Server time of the last accepted OTP (the row's `modified`), ISO 8601; null if never. */
  lastUse: string | null
  nonce: string
  notes: string
  /** Key handle folders holding an AEAD for this public id. */
  keyHandles: string[]
}

function entry (publicId: string, row: YubikeyRecord | undefined, keyHandles: string[]): KeyListEntry {
  return {
    publicId,
    inDatabase: row !== undefined,
    active: row?.active ?? true,
    counter: row?.counter ?? -1,
    use: row?.use ?? -1,
    low: row?.low ?? -1,
    high: row?.high ?? -1,
    created: row?.created ?? null,
    lastUse: row === undefined ? null : isoTime(row.modified),
    nonce: row?.nonce ?? '',
    notes: row?.notes ?? '',
    keyHandles
  }
}

/** Every key that has a row or an AEAD, ordered by public id. */
export async function listKeys (opts: CommonOptionValues): Promise<KeyListEntry[]> {
  const config = configFromOptions(opts)
  const rows = await withCliDatabase(config, listYubikeys)
  const folders = await withAeadRepository(config, async (repo) => repo.foldersById())
  const byId = new Map(rows.map((r) => [r.publicId, r]))
  const ids = [...new Set([...byId.keys(), ...folders.keys()])].sort()
  return ids.map((id) => entry(id, byId.get(id), folders.get(id) ?? []))
}

const counter = (n: number): string => n < 0 ? '-' : String(n)

function registerList (group: Command): void {
  keysDbCommand(group, 'list')
    .description('list every YubiKey with a database row or an AEAD: public id, active, counters, last use, ' +
      'key handle folders holding its AEAD (no secrets)')
    .option('--json', 'print a JSON array')
    .action(async (opts: CommonOptionValues & { json?: boolean }) => {
      const keys = await listKeys(opts)
      if (opts.json === true) {
        process.stdout.write(JSON.stringify(keys, null, 2) + '\n')
        return
      }
      if (keys.length === 0) {
        process.stderr.write('yubival: no keys (no database rows and no AEADs)\n')
        return
      }
      process.stdout.write(formatTable([['PUBLIC ID', 'ACTIVE', 'COUNTER', 'USE', 'LAST USE', 'AEAD KEY HANDLES'],
        ...keys.map((k) => [k.publicId, k.active ? 'yes' : 'no', counter(k.counter), counter(k.use),
          k.lastUse ?? (k.inDatabase ? '-' : 'never used'), k.keyHandles.join(',') || 'none'])]))
    })
}

const now = (): number => Math.floor(Date.now() / 1000)

function registerActive (group: Command, name: 'enable' | 'disable'): void {
  const active = name === 'enable'
  keysDbCommand(group, name)
    .description(active
      ? 'accept OTPs of a disabled YubiKey again'
      : 'refuse every OTP of a YubiKey (BAD_OTP, reason key_disabled), on every replica from the next request; ' +
        'works before a key is first used')
    .argument('<PUBID>', 'public id (modhex)')
    .action(async (raw: string, opts: CommonOptionValues) => {
      const publicId = parsePublicIdArg(raw)
      const config = configFromOptions(opts)
      // a key never used has no row: disabling it creates one, if it is a key we hold an AEAD for
      const { aeads, where } = await withAeadRepository(config, async (repo) => ({ aeads: await repo.locate(publicId), where: repo.location }))
      const insertAt = !active && aeads.length > 0 ? now() : undefined
      const result = await withCliDatabase(config, async (db) => setYubikeyActive(db, publicId, active, insertAt))
      if (result === 'missing') {
        if (active && aeads.length > 0) {
          process.stdout.write(`key ${publicId} is enabled (never used yet)\n`)
          return
        }
        throw new CliError(`unknown public id ${publicId}: no database row and no AEAD ${where}`)
      }
      const done = active ? 'enabled' : 'disabled'
      // with a sync pool the peers are told too (yubikey-val never carried the flag)
      const { peers, queuedElsewhere } = await withCliDatabase(config, async (db) => ({
        peers: await queueKeyState(db, config.syncPool, [publicId], 'explicit'),
        queuedElsewhere: config.syncPool.length === 0 && (await new SyncQueueRepository(db).stats()).length > 0
      }))
      const told = peers > 0 ? `; queued for ${peers} sync peer${peers === 1 ? '' : 's'}` : ''
      if (queuedElsewhere) {
        process.stderr.write('yubival: warning: the sync queue has messages for peers but YUBIVAL_SYNC_POOL is not set here, ' +
          'so the peers are not told; run this with the server\'s environment\n')
      }
      process.stdout.write(result === 'unchanged' ? `key ${publicId} was already ${done}${told}\n` : `key ${publicId} ${done}${told}\n`)
    })
}

function requireForce (opts: { force?: boolean }, what: string): void {
  if (opts.force !== true) throw new CliError(`${what}; add --force to do it`, 2)
}

function registerReset (group: Command): void {
  keysDbCommand(group, 'reset')
    .description('forget the stored counters of a YubiKey (after it was reprogrammed, its counters start lower and ' +
      'every OTP would be REPLAYED_OTP); the next OTP is accepted whatever its counter')
    .argument('<PUBID>', 'public id (modhex)')
    .option('--force', 'really reset (old OTPs of this key become acceptable once more until a new one is used)')
    .action(async (raw: string, opts: CommonOptionValues & { force?: boolean }) => {
      const publicId = parsePublicIdArg(raw)
      requireForce(opts, `resetting the counters of ${publicId} lets its already used OTPs be accepted again`)
      const config = configFromOptions(opts)
      const { before, dropped } = await withCliDatabase(config, async (db) => ({
        before: await resetYubikeyCounters(db, publicId),
        // queued messages carry the old counters: sent to a peer they would come back in its answer
        dropped: await new SyncQueueRepository(db).purgeKey(publicId)
      }))
      if (before === null) throw new CliError(`unknown public id ${publicId}: no database row, so no counters to reset`)
      process.stdout.write(`key ${publicId}: counters reset (were counter=${before.counter} use=${before.use})` +
        `${before.active ? '' : '; the key is still disabled'}${dropped > 0 ? `; ${dropped} queued sync message${dropped === 1 ? '' : 's'} dropped` : ''}\n`)
      if (config.syncPool.length > 0 || dropped > 0) {
        process.stderr.write('yubival: with a sync pool, reset the key on every node (yubikey-val: UPDATE yubikeys in SQL): ' +
          'a peer that still has the higher counters answers REPLAYED_OTP and raises them here again\n')
      }
    })
}

function registerDelete (group: Command): void {
  keysDbCommand(group, 'delete')
    .description('delete a YubiKey: its AEAD in every key handle folder and its database row. To revoke a key, ' +
      'use `keys disable` (a running server may keep a deleted AEAD in memory until restarted or sent SIGHUP)')
    .argument('<PUBID>', 'public id (modhex)')
    .option('--force', 'really delete (the key secret is gone unless you have a backup)')
    .action(async (raw: string, opts: CommonOptionValues & { force?: boolean }) => {
      const publicId = parsePublicIdArg(raw)
      requireForce(opts, `deleting ${publicId} destroys its AEADs (the YubiKey's secret) and its counters`)
      const config = configFromOptions(opts)
      const hadRow = await withCliDatabase(config, async (db) => deleteYubikeyRow(db, publicId))
      let aeads: string[] = []
      let where = ''
      try {
        ({ aeads, where } = await withAeadRepository(config, async (repo) => ({ aeads: await repo.remove(publicId), where: repo.location })))
      } catch (err) {
        if (hadRow && err instanceof CliError) throw new CliError(`${err.message} (the database row was deleted)`)
        throw err
      }
      if (!hadRow && aeads.length === 0) throw new CliError(`unknown public id ${publicId}: no database row and no AEAD ${where}`)
      const files = aeads.length === 0 ? 'no AEAD files' : `AEAD${aeads.length === 1 ? '' : 's'} in ${aeads.join(', ')}`
      process.stdout.write(`key ${publicId} deleted: ${files}, ${hadRow ? 'database row' : 'no database row'}\n`)
    })
}

export function registerKeyState (group: Command): void {
  registerList(group)
  registerActive(group, 'disable')
  registerActive(group, 'enable')
  registerReset(group)
  registerDelete(group)
}
