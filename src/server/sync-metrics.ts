// Prometheus side of the sync pool: requests to peers by result, messages dropped over the queue limit,
// and the queue per peer (length and age of its oldest message), so a stuck peer shows before it matters.
import { Counter, Gauge, type Registry } from 'prom-client'
import type { QueueStats } from '../db/sync-queue-repository.js'
import { peerLabel } from '../sync/peer-client.js'
import type { SyncObserver } from '../sync/sync-pool.js'

export function createSyncMetrics (registry: Registry, peers: readonly string[], nowMs: () => number = Date.now): SyncObserver {
  const registers = [registry]
  const requests = new Counter({
    name: 'yubival_sync_requests_total',
    help: 'Sync requests sent to peers, by peer and result (ok, key_disabled, refused, failed)',
    labelNames: ['peer', 'result'],
    registers
  })
  const dropped = new Counter({
    name: 'yubival_sync_dropped_total',
    help: 'Queued sync messages dropped because the queue was over YUBIVAL_SYNC_QUEUE_LIMIT, by peer',
    labelNames: ['peer'],
    registers
  })
  // every serve process (YUBIVAL_WORKERS) reports the same table: aggregate gauges with max, not sum
  const length = new Gauge({ name: 'yubival_sync_queue_length', help: 'Sync messages waiting for a peer', labelNames: ['peer'], registers, aggregator: 'max' })
  const age = new Gauge({
    name: 'yubival_sync_queue_oldest_seconds',
    help: 'Age of the oldest sync message waiting for a peer (0 when none)',
    labelNames: ['peer'],
    registers,
    aggregator: 'max'
  })
  const failing = new Gauge({
    name: 'yubival_sync_queue_failing',
    help: 'Queued sync messages whose last delivery attempt failed, by peer',
    labelNames: ['peer'],
    registers,
    aggregator: 'max'
  })
  // every label ever reported, so a peer whose messages were purged drops back to 0
  const labels = new Set(peers.map(peerLabel))
  for (const peer of labels) {
    for (const result of ['ok', 'key_disabled', 'refused', 'failed']) requests.inc({ peer, result }, 0)
    dropped.inc({ peer }, 0)
    length.set({ peer }, 0)
    age.set({ peer }, 0)
    failing.set({ peer }, 0)
  }
  return {
    request: (peer, result) => requests.inc({ peer, result }),
    dropped: (peer, n) => dropped.inc({ peer }, n),
    queue: (stats: QueueStats[]) => {
      const seen = new Set<string>()
      for (const s of stats) {
        const peer = peerLabel(s.server)
        seen.add(peer)
        labels.add(peer)
        length.set({ peer }, s.rows)
        failing.set({ peer }, s.failing)
        age.set({ peer }, Math.max(0, (nowMs() - s.oldestQueuedAt) / 1000))
      }
      for (const peer of labels) {
        if (seen.has(peer)) continue
        length.set({ peer }, 0)
        failing.set({ peer }, 0)
        age.set({ peer }, 0)
      }
    }
  }
}
