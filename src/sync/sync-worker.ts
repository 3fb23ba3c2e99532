// The background side of the sync pool (yubikey-val's ykval-queue daemon, §4.5) inside the service:
// every interval it takes the due messages, sends them to their peers (a few at a time per peer), and
// retries failures with exponential backoff. Rows are leased in the database, so several processes or
// replicas on one database can run it at once without sending a message twice at the same time.
import type { QueuedMessage, QueueStats } from '../db/sync-queue-repository.js'
import { peerLabel } from './peer-client.js'
import type { SyncLog, SyncObserver, SyncPool } from './sync-pool.js'

export interface SyncWorkerQueue {
  claimDue(peers: readonly string[], nowMs: number, leaseUntil: number, limit: number): Promise<QueuedMessage[]>
  retryLater(ref: QueuedMessage, nextAt: number, error: string, countAttempt?: boolean): Promise<void>
  trim(limit: number): Promise<Map<string, number>>
  stats(): Promise<QueueStats[]>
}

export interface SyncWorkerOptions {
  pool: SyncPool
  queue: SyncWorkerQueue
  log: SyncLog
  observer?: SyncObserver
  intervalMs: number
  requestTimeoutMs: number
  parallel: number
  queueLimit: number
  /** Rows taken per pass. */
  batch?: number
  nowMs?: () => number
}

export interface SyncWorker {
  start(): void
  /** Runs a pass soon (new failures to hand over), without waiting for the interval. */
  kick(): void
  /** One pass now; resolves when it is done (tests, `yubival sync flush`). */
  runOnce(): Promise<void>
  stop(): Promise<void>
}

/** Longest wait between two attempts at one message. */
export const MAX_BACKOFF_MS = 300_000

export function backoffMs (intervalMs: number, attempts: number): number {
  return Math.min(intervalMs * 2 ** Math.min(attempts, 20), MAX_BACKOFF_MS)
}

export function createSyncWorker (opts: SyncWorkerOptions): SyncWorker {
  const nowMs = opts.nowMs ?? Date.now
  // small batches keep leases short: a process that dies mid-pass delays its rows by one lease at most
  const batch = opts.batch ?? 100
  const peers = opts.pool.peers
  const controller = new AbortController()
  let timer: NodeJS.Timeout | null = null
  let running: Promise<void> | null = null
  let started = false
  let stopped = false

  async function sendToPeer (rows: QueuedMessage[]): Promise<void> {
    let failing: string | null = null
    let next = 0
    const slot = async (): Promise<void> => {
      while (next < rows.length) {
        const row = rows[next++]!
        if (failing !== null || controller.signal.aborted) {
          // the peer is failing: try this one later, without counting an attempt it did not get
          await opts.queue.retryLater(row, nowMs() + backoffMs(opts.intervalMs, row.attempts), `not sent: ${failing ?? 'stopping'}`, false)
          continue
        }
        const result = await opts.pool.deliver(row, row.kind, row.message, opts.requestTimeoutMs, controller.signal)
        if (result.kind === 'ok' || result.kind === 'key_disabled') continue
        const why = result.kind === 'failed' ? result.detail : `peer answered ${result.status}`
        // yubikey-val stops sending to a peer for this pass on a transport failure; a refusal concerns one message
        if (result.kind === 'failed') failing = why
        await opts.queue.retryLater(row, nowMs() + backoffMs(opts.intervalMs, row.attempts + 1), why)
        if (row.attempts + 1 === 1 || (row.attempts + 1) % 10 === 0) {
          opts.log.warn({ peer: peerLabel(row.server), publicId: row.message.publicId, kind: row.kind, attempts: row.attempts + 1, why },
            'sync: message not delivered; will retry')
        }
      }
    }
    await Promise.all(Array.from({ length: Math.min(opts.parallel, rows.length) }, slot))
  }

  async function pass (): Promise<void> {
    const dropped = await opts.queue.trim(opts.queueLimit)
    for (const [server, n] of dropped) {
      opts.observer?.dropped(peerLabel(server), n)
      opts.log.warn({ peer: peerLabel(server), dropped: n, limit: opts.queueLimit },
        'sync: queue over YUBIVAL_SYNC_QUEUE_LIMIT; oldest messages dropped (that peer misses those counters until the keys are used again)')
    }
    for (;;) {
      const now = nowMs()
      // the lease outlasts a whole batch at `parallel` per peer, so nobody else takes these meanwhile
      const leaseMs = opts.requestTimeoutMs * (Math.ceil(batch / opts.parallel) + 1)
      const rows = await opts.queue.claimDue(peers, now, now + leaseMs, batch)
      const byPeer = new Map<string, QueuedMessage[]>()
      for (const r of rows) byPeer.set(r.server, [...(byPeer.get(r.server) ?? []), r])
      await Promise.all([...byPeer.values()].map(sendToPeer))
      if (rows.length < batch || controller.signal.aborted) break
    }
    opts.observer?.queue(await opts.queue.stats())
  }

  function schedule (delayMs: number): void {
    if (!started || stopped) return
    if (timer !== null) clearTimeout(timer)
    timer = setTimeout(() => { void runOnce() }, delayMs)
    timer.unref()
  }

  async function runOnce (): Promise<void> {
    if (running !== null) return running
    const started = nowMs()
    running = pass()
      .catch((err: unknown) => {
        opts.log.warn({ err: (err as Error).message }, 'sync: queue pass failed (database?); retrying next interval')
      })
      .finally(() => {
        running = null
        schedule(Math.max(opts.intervalMs - (nowMs() - started), 0))
      })
    return running
  }

  return {
    start: () => {
      started = true
      schedule(0)
    },
    kick: () => { if (running === null) schedule(0) },
    runOnce,
    stop: async () => {
      stopped = true
      if (timer !== null) clearTimeout(timer)
      controller.abort()
      await running
    }
  }
}
