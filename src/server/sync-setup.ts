// Wires the sync pool into a service from its configuration: the accept statement that queues for the
// peers, the synchronous round inside verify, the background worker, and the /wsapi/2.0/sync responder.
import { randomBytes } from 'node:crypto'
import type { Logger } from 'pino'
import type { Config } from '../config.js'
import type { Database } from '../db/database.js'
import { SyncingYubikeysRepository, SyncQueueRepository } from '../db/sync-queue-repository.js'
import type { YubikeyStore } from '../db/types.js'
import { createPeerClient, peerLabel } from '../sync/peer-client.js'
import { createSyncResponder } from '../sync/responder.js'
import { createResync } from '../sync/resync.js'
import { YubikeysRepository } from '../db/yubikeys-repository.js'
import { createSyncPool } from '../sync/sync-pool.js'
import { createSyncWorker } from '../sync/sync-worker.js'
import type { VerifySyncOptions } from '../val/verify-service.js'
import type { Metrics } from './metrics.js'
import { createSyncMetrics } from './sync-metrics.js'

export interface RunningSync {
  /** The accept-and-queue store, or null without a pool (the plain store is used). */
  yubikeys: YubikeyStore | null
  verify: VerifySyncOptions | null
  responder: ReturnType<typeof createSyncResponder>
  resync: ReturnType<typeof createResync>
  start(): void
  stop(): Promise<void>
}

/** 32 hex characters from the CSPRNG (yubikey-val's md5(uniqid(rand())) could be guessed, issue #14). */
export const randomServerNonce = (): string => randomBytes(16).toString('hex')

export function decodeSyncKey (config: Pick<Config, 'syncKey'>): Buffer | null {
  return config.syncKey === null ? null : Buffer.from(config.syncKey, 'base64')
}

export function startSync (config: Config, db: Database, metrics: Metrics, logger: Logger): RunningSync {
  const log = logger.child({ component: 'sync' })
  const queue = new SyncQueueRepository(db)
  const key = decodeSyncKey(config)
  const responder = createSyncResponder({ store: queue, allowedIps: config.syncAllowedIps, key, unsignedIps: config.syncUnsignedIps })
  const keys = new YubikeysRepository(db)
  const resync = createResync({
    store: { keyExists: async (id) => (await keys.getYubikey(id)) !== null, queueState: async (...a) => queue.queueState(...a) },
    peers: config.syncPool,
    allowedIps: config.resyncIps
  })
  if (config.syncPool.length === 0) {
    return { yubikeys: null, verify: null, responder, resync, start: () => {}, stop: async () => {} }
  }
  const observer = createSyncMetrics(metrics.registry, config.syncPool)
  const pool = createSyncPool({ peers: config.syncPool, key, unsignedPeers: config.syncUnsignedPeers, client: createPeerClient(), queue, log, observer })
  const worker = createSyncWorker({
    pool,
    queue,
    log,
    observer,
    intervalMs: config.syncIntervalMs,
    requestTimeoutMs: config.syncRequestTimeoutMs,
    parallel: config.syncParallel,
    queueLimit: config.syncQueueLimit
  })
  const yubikeys = new SyncingYubikeysRepository(db, {
    peers: config.syncPool,
    serverNonce: randomServerNonce,
    nowMs: Date.now,
    // the verify that queued a message owns it for its longest possible wait; then the worker may take it
    holdMs: config.syncMaxTimeoutMs + 1000
  })
  return {
    yubikeys,
    verify: { pool, defaultTimeoutMs: config.syncTimeoutMs, maxTimeoutMs: config.syncMaxTimeoutMs },
    responder,
    resync,
    start: () => {
      log.info({ peers: config.syncPool.map(peerLabel), signed: config.syncKey !== null }, 'sync pool: worker started')
      worker.start()
    },
    stop: async () => worker.stop()
  }
}
