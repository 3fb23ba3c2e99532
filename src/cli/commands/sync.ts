// `yubival sync status | resync | purge`: the sync pool's queue, seen and handled from the command line
// (the running service's worker does the sending).
import { Option, type Command } from 'commander'
import { SyncQueueRepository } from '../../db/sync-queue-repository.js'
import { peerLabel } from '../../sync/peer-client.js'
import { formatTable } from '../admin/table.js'
import { parsePublicIdArg } from '../admin/aead-locate.js'
import { CliError } from '../errors.js'
import { addDatabaseOptions, addDataDirOption, configFromOptions, type CommonOptionValues } from '../options.js'
import { queueKeyState } from '../sync/queue-state.js'
import { withCliDatabase } from './migrate.js'

const syncCommand = (group: Command, name: string): Command => addDatabaseOptions(addDataDirOption(group.command(name)))

function age (sinceMs: number): string {
  const s = Math.max(0, Math.round((Date.now() - sinceMs) / 1000))
  return s < 120 ? `${s}s` : s < 7200 ? `${Math.round(s / 60)}m` : `${Math.round(s / 3600)}h`
}

export function registerSyncCommands (program: Command): void {
  const group = program.command('sync').description('the yubikey-val sync pool (YUBIVAL_SYNC_POOL): queue status, resync, purge')

  syncCommand(group, 'status')
    .description('queued messages per peer: how many, how old the oldest, how many failed their last attempt')
    .option('--json', 'print JSON')
    .action(async (opts: CommonOptionValues & { json?: boolean }) => {
      const config = configFromOptions(opts)
      const stats = await withCliDatabase(config, async (db) => new SyncQueueRepository(db).stats())
      const peers = [...new Set([...config.syncPool, ...stats.map((s) => s.server)])].sort()
      const rows = peers.map((server) => {
        const s = stats.find((x) => x.server === server)
        return { peer: server, inPool: config.syncPool.includes(server), queued: s?.rows ?? 0, failing: s?.failing ?? 0, oldestQueuedAt: s?.oldestQueuedAt ?? null }
      })
      if (opts.json === true) {
        process.stdout.write(JSON.stringify(rows, null, 2) + '\n')
        return
      }
      if (rows.length === 0) {
        process.stderr.write('yubival: no sync pool configured (YUBIVAL_SYNC_POOL) and nothing queued\n')
        return
      }
      process.stdout.write(formatTable([['PEER', 'IN POOL', 'QUEUED', 'FAILING', 'OLDEST'],
        ...rows.map((r) => [r.peer, r.inPool ? 'yes' : 'no (not sent)', String(r.queued), String(r.failing),
          r.oldestQueuedAt === null ? '-' : age(r.oldestQueuedAt)])]))
    })

  syncCommand(group, 'resync')
    .description('queue the counters of keys for every peer, like yubikey-val\'s resync.php (e.g. after adding a ' +
      'peer), and the disabled flag of disabled keys (a resync never re-enables a key); the running service sends them')
    .argument('[PUBID...]', 'public ids (modhex)')
    .option('--all', 'every key in the database')
    .action(async (raw: string[], opts: CommonOptionValues & { all?: boolean }) => {
      if ((opts.all === true) === (raw.length > 0)) throw new CliError('give public ids or --all (not both)', 2)
      const config = configFromOptions(opts)
      if (config.syncPool.length === 0) throw new CliError('no sync pool: set YUBIVAL_SYNC_POOL to the peers\' sync URLs', 2)
      const ids = opts.all === true ? 'all' : raw.map(parsePublicIdArg)
      const n = await withCliDatabase(config, async (db) => queueKeyState(db, config.syncPool, ids, 'resync'))
      process.stdout.write(`queued ${n} message${n === 1 ? '' : 's'} for ${config.syncPool.length} peer${config.syncPool.length === 1 ? '' : 's'} ` +
        `(${config.syncPool.map(peerLabel).join(', ')})\n`)
    })

  syncCommand(group, 'purge')
    .description('delete queued messages: of one peer (--peer URL), or of every peer no longer in YUBIVAL_SYNC_POOL (--stale)')
    .addOption(new Option('--peer <url>', 'the peer\'s sync URL exactly as queued (see `sync status`)').conflicts('stale'))
    .option('--stale', 'peers that are not in YUBIVAL_SYNC_POOL any more')
    .action(async (opts: CommonOptionValues & { peer?: string, stale?: boolean }) => {
      if (opts.peer === undefined && opts.stale !== true) throw new CliError('give --peer URL or --stale', 2)
      const config = configFromOptions(opts)
      const n = await withCliDatabase(config, async (db) => new SyncQueueRepository(db).purge(opts.peer ?? { keep: config.syncPool }))
      process.stdout.write(`deleted ${n} queued message${n === 1 ? '' : 's'}\n`)
    })
}
