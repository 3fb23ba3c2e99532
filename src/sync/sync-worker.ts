// The background side of the sync pool (yubikey-val's ykval-queue daemon, §4.5) inside the service:
// every interval each peer's due messages are taken and sent (a few at a time per peer); a peer that
// fails gets nothing more that pass and its messages wait with exponential backoff. Rows are leased in
// the database, so several processes or replicas on one database can run it at once without sending a
// message twice at the same time. Housekeeping (queue limit, metrics) runs on its own timer, so neither
// a slow peer nor a long backlog can hold it up.
import type { QueuedMessage, QueueStats } from '../db/sync-queue-repository.js'
import { peerLabel } from './peer-client.js'
import type { DeliveryResult, SyncLog, SyncObserver, SyncPool } from './sync-pool.js'

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
  /** Rows taken per claim, per peer. */
  batch?: number
  /** How often the queue limit and the queue metrics are applied (default 10 × interval, 1-60 s). */
  housekeepingMs?: number
  nowMs?: () => number
}

export interface SyncWorker {
  start(): void
  /** Housekeeping and one delivery pass now; resolves when both are done (tests). */
  runOnce(): Promise<void>
  stop(): Promise<void>
}

/** Longest wait between two attempts at one message. */
export const MAX_BACKOFF_MS = 300_000

export function backoffMs (intervalMs: number, attempts: number): number {
  return Math.min(intervalMs * 2 ** Math.min(attempts, 20), MAX_BACKOFF_MS)
}

/** A peer's state messages first: an enable must not arrive after an OTP message it would explain. */
const deliveryOrder = (a: QueuedMessage, b: QueuedMessage): number =>
  (a.kind === b.kind ? 0 : a.kind === 'state' ? -1 : 1) || Number(a.id) - Number(b.id)

export function createSyncWorker (opts: SyncWorkerOptions): SyncWorker {
  const nowMs = opts.nowMs ?? Date.now
  // small batches keep leases short: a process that dies mid-pass delays its rows by one lease at most
  const batch = opts.batch ?? 100
  const housekeepingMs = opts.housekeepingMs ?? Math.min(Math.max(opts.intervalMs * 10, 1000), 60_000)
  const controller = new AbortController()
  let timer: NodeJS.Timeout | null = null
  let housekeepingTimer: NodeJS.Timeout | null = null
  let delivering: Promise<void> | null = null
  let housekeeping: Promise<void> | null = null
  let started = false
  let stopped = false

  async function attempt (row: QueuedMessage): Promise<DeliveryResult> {
    try {
      return await opts.pool.deliver(row, row.kind, row.message, opts.requestTimeoutMs, controller.signal)
    } catch (err) {
      return { kind: 'failed', detail: `local: ${(err as Error).message}` }
    }
  }

  /** Sends one claimed batch to its peer; the reason the peer failed, or null. */
  async function sendBatch (rows: QueuedMessage[]): Promise<string | null> {
    const peerState: { failing: { why: string, retryAt: number } | null } = { failing: null }
    let next = 0
    const slot = async (): Promise<void> => {
      while (next < rows.length) {
        const row = rows[next++]!
        const { failing } = peerState
        if (failing !== null || controller.signal.aborted) {
          // not tried: it waits as long as the message that failed, without counting an attempt
          const retryAt = failing?.retryAt ?? nowMs() + opts.intervalMs
          await opts.queue.retryLater(row, retryAt, `not sent: ${failing?.why ?? 'stopping'}`, false)
          continue
        }
        const result = await attempt(row)
        if (result.kind === 'ok' || result.kind === 'key_disabled') continue
        const why = result.kind === 'failed' ? result.detail : `peer answered ${result.status}`
        const retryAt = nowMs() + backoffMs(opts.intervalMs, row.attempts + 1)
        // yubikey-val stops sending to a peer for this pass on a transport failure; a refusal concerns one message
        if (result.kind === 'failed') peerState.failing ??= { why, retryAt }
        await opts.queue.retryLater(row, retryAt, why)
        // the first failures (a verify may have made the first) and then every tenth, not every pass
        if (row.attempts < 2 || (row.attempts + 1) % 10 === 0) {
          opts.log.warn({ peer: peerLabel(row.server), publicId: row.message.publicId, kind: row.kind, attempts: row.attempts + 1, why },
            'sync: message not delivered; will retry')
        }
      }
    }
    await Promise.all(Array.from({ length: Math.min(opts.parallel, rows.length) }, slot))
    return peerState.failing?.why ?? null
  }

  /** Drains one peer's due messages until none are left, or the peer fails (then: next pass). */
  async function drainPeer (peer: string): Promise<void> {
    for (;;) {
      const now = nowMs()
      // the lease outlasts the batch at `parallel` requests in flight
      const leaseMs = opts.requestTimeoutMs * (Math.ceil(batch / opts.parallel) + 1)
      const rows = (await opts.queue.claimDue([peer], now, now + leaseMs, batch)).sort(deliveryOrder)
      const failing = await sendBatch(rows)
      if (failing !== null || rows.length < batch || controller.signal.aborted) return
    }
  }

  async function deliverPass (): Promise<void> {
    const results = await Promise.allSettled(opts.pool.peers.map(drainPeer))
    for (const r of results) {
      if (r.status === 'rejected') opts.log.warn({ err: (r.reason as Error).message }, 'sync: queue pass failed (database?); retrying next interval')
    }
  }

  async function housekeep (): Promise<void> {
    housekeeping ??= (async () => {
      const dropped = await opts.queue.trim(opts.queueLimit)
      for (const [server, n] of dropped) {
        opts.observer?.dropped(peerLabel(server), n)
        opts.log.warn({ peer: peerLabel(server), dropped: n, limit: opts.queueLimit },
          'sync: queue over YUBIVAL_SYNC_QUEUE_LIMIT; oldest messages dropped (that peer misses those counters until the keys are used again)')
      }
      opts.observer?.queue(await opts.queue.stats())
    })()
      .catch((err: unknown) => { opts.log.warn({ err: (err as Error).message }, 'sync: queue housekeeping failed (database?)') })
      .finally(() => { housekeeping = null })
    return housekeeping
  }

  function schedule (delayMs: number): void {
    if (!started || stopped) return
    if (timer !== null) clearTimeout(timer)
    timer = setTimeout(() => { void runPass() }, delayMs)
    timer.unref()
  }

  async function runPass (): Promise<void> {
    if (delivering !== null) return delivering
    const began = nowMs()
    delivering = deliverPass().finally(() => {
      delivering = null
      schedule(Math.max(opts.intervalMs - (nowMs() - began), 0))
    })
    return delivering
  }

  return {
    start: () => {
      started = true
      void housekeep()
      housekeepingTimer = setInterval(() => { void housekeep() }, housekeepingMs)
      housekeepingTimer.unref()
      schedule(0)
    },
    runOnce: async () => {
      await housekeep()
      await runPass()
    },
    stop: async () => {
      stopped = true
      if (timer !== null) clearTimeout(timer)
      if (housekeepingTimer !== null) clearInterval(housekeepingTimer)
      controller.abort()
      await Promise.all([delivering, housekeeping])
    }
  }
}
