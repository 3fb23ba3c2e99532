// Wires the layers into a running service: keyfile + AEAD store → KSM, database → stores, verify
// service → Fastify app, plus the admin listener with metrics. Used by `yubival serve` (and tests that
// want a real listening server).
import type { FastifyInstance } from 'fastify'
import type { Logger } from 'pino'
import { ConfigError, type Config } from '../config.js'
import { openDatabase, type Database, type Queryable } from '../db/database.js'
import { expectedMigrationVersion, migrate } from '../db/migrate.js'
import { createStores } from '../db/stores.js'
import type { Ksm } from '../ksm/types.js'
import { createVerifyService } from '../val/verify-service.js'
import { buildAdminApp } from './admin-app.js'
import { buildApp } from './app.js'
import { instrumentDatabase } from './instrument.js'
import { createMetrics, type Metrics, type PoolStats } from './metrics.js'
import { createReadiness } from './readiness.js'
import { loadTlsMaterial, type TlsMaterial } from './tls.js'
import { startSync, type RunningSync } from './sync-setup.js'

export interface RunningService {
  app: FastifyInstance
  /** The admin listener (metrics, probes); null when YUBIVAL_ADMIN_PORT is 0. */
  admin: FastifyInstance | null
  db: Database
  metrics: Metrics
  /** Stops accepting, finishes in-flight requests, closes the database. */
  close: () => Promise<void>
  /** Drops every connection, in flight or not (after the shutdown grace period ran out). */
  abortConnections: () => void
}

export interface ServiceDeps {
  /** The KSM, or how to make it from the open database (AEADs in the database). */
  ksm: Ksm | ((db: Queryable) => Ksm)
  logger: Logger
  /** Already loaded TLS material; default: loaded from config here. */
  tls?: TlsMaterial | null
}

function hasPoolStats (db: Database): db is Database & { poolStats: () => PoolStats } {
  return typeof (db as { poolStats?: unknown }).poolStats === 'function'
}

const LISTEN_CONFIG_ERRORS = ['EADDRINUSE', 'EACCES', 'EADDRNOTAVAIL', 'ENOTFOUND']

/** Listens; an address that cannot be used is a configuration error naming the setting. */
export async function listen (app: FastifyInstance, host: string, port: number, setting: string): Promise<void> {
  try {
    await app.listen({ host, port })
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? ''
    if (!LISTEN_CONFIG_ERRORS.includes(code)) throw err
    throw new ConfigError(setting, `cannot listen on ${host}:${port}: ${code}${code === 'EADDRINUSE' ? ' (another process uses this port)' : ''}`)
  }
}

export async function startService (config: Config, deps: ServiceDeps): Promise<RunningService> {
  const { logger } = deps
  const tls = deps.tls !== undefined ? deps.tls : loadTlsMaterial(config)
  const metrics = createMetrics()
  const rawDb = await openDatabase(config, {
    onConnectionError: (err) => logger.warn({ reason: 'db_unavailable', err: err.message }, 'database connection lost')
  })
  if (hasPoolStats(rawDb)) metrics.watchPool(() => rawDb.poolStats())
  const db = instrumentDatabase(rawDb, metrics)
  let app: FastifyInstance | undefined
  let admin: FastifyInstance | null = null
  let sync: RunningSync | null = null
  try {
    const migrated = await migrate(rawDb)
    if (migrated.applied.length > 0) logger.info({ applied: migrated.applied, version: migrated.version }, 'database migrated')
    sync = startSync(config, db, metrics, logger)
    const stores = { ...createStores(db, config), ...(sync.yubikeys !== null ? { yubikeys: sync.yubikeys } : {}) }
    const ksm = typeof deps.ksm === 'function' ? deps.ksm(db) : deps.ksm
    const readiness = createReadiness({
      db,
      expectedVersion: await expectedMigrationVersion(),
      // only the file store needs the tree; replicas with AEADs in the database may have none
      aeadDir: config.aeadStore === 'files' && config.ksmUrls.length === 0 ? config.aeadDir : null,
      timeoutMs: config.readyTimeoutMs
    })
    app = buildApp({
      verifyService: createVerifyService({
        ksm, clients: stores.clients, yubikeys: stores.yubikeys, ...(sync.verify !== null ? { sync: sync.verify } : {})
      }),
      syncResponder: sync.responder,
      resync: sync.resync,
      logger,
      readiness,
      metrics,
      rateLimit: {
        windowMs: config.rateLimitWindowMs,
        perIp: config.rateLimitPerIp,
        perClient: config.rateLimitPerClient,
        loopback: config.rateLimitLoopback
      },
      trustedProxies: config.trustedProxies,
      tls,
      timeouts: { requestMs: config.requestTimeoutMs, keepAliveMs: config.keepAliveTimeoutMs },
      ...(config.ksmEndpoint ? { ksmEndpoint: { ksm, allowedIps: config.ksmAllowedIps } } : {})
    })
    await listen(app, config.host, config.port, 'YUBIVAL_PORT')
    if (config.adminPort !== 0) {
      admin = buildAdminApp({ metrics, readiness, logger })
      await listen(admin, config.adminHost, config.adminPort, 'YUBIVAL_ADMIN_PORT')
    }
  } catch (err) {
    await sync?.stop().catch(() => undefined)
    await admin?.close().catch(() => undefined)
    await app?.close().catch(() => undefined)
    await db.close().catch(() => undefined)
    throw err
  }
  const running = app
  const runningAdmin = admin
  const runningSync = sync
  runningSync?.start()
  return {
    app: running,
    admin: runningAdmin,
    db,
    metrics,
    close: async () => {
      await Promise.all([running.close(), runningAdmin?.close()])
      await runningSync?.stop()
      await db.close()
    },
    abortConnections: () => {
      running.server.closeAllConnections()
      runningAdmin?.server.closeAllConnections()
    }
  }
}
