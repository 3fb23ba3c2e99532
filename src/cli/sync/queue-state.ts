import type { Database } from '../../db/database.js'
import { SyncQueueRepository } from '../../db/sync-queue-repository.js'

/**
 * Queues the counters of these keys (or all) for every sync peer; rows queued. `explicit` (keys
 * enable/disable) carries the active flag either way; a resync carries only disables.
 */
export async function queueKeyState (db: Database, peers: readonly string[], publicIds: readonly string[] | 'all',
  flag: 'explicit' | 'resync'): Promise<number> {
  if (peers.length === 0) return 0
  return new SyncQueueRepository(db).queueState(peers, publicIds, Date.now(), flag)
}
