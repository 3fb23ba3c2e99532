// Wires the layers into a running service: keyfile + AEAD store → KSM, database → stores, verify
// service → Fastify app. Used by `yubival serve` (and tests that want a real listening server).
import type { FastifyInstance } from 'fastify'
import type { Logger } from 'pino'
import type { Config } from '../config.js'
import { openDatabase, type Database } from '../db/database.js'
import { currentMigrationVersion, expectedMigrationVersion, migrate } from '../db/migrate.js'
import { createStores } from '../db/stores.js'
import type { Ksm } from '../ksm/types.js'
import { createVerifyService } from '../val/verify-service.js'
import { buildApp } from './app.js'
import type { ReadinessReport } from './routes/health.js'

export interface RunningService {
  app: FastifyInstance
  db: Database
  /** Stops accepting, finishes in-flight requests, closes the database. */
  close: () => Promise<void>
}

export async function startService (config: Config, deps: { ksm: Ksm, logger: Logger }): Promise<RunningService> {
  const { ksm, logger } = deps
  const db = await openDatabase(config, {
    onConnectionError: (err) => logger.warn({ reason: 'db_unavailable', err: err.message }, 'database connection lost')
  })
  let app: FastifyInstance | undefined
  try {
    const migrated = await migrate(db)
    if (migrated.applied.length > 0) logger.info({ applied: migrated.applied, version: migrated.version }, 'database migrated')
    const expected = await expectedMigrationVersion()
    const stores = createStores(db, config)
    const verifyService = createVerifyService({ ksm, clients: stores.clients, yubikeys: stores.yubikeys })

    const readiness = async (): Promise<ReadinessReport> => {
      const checks: ReadinessReport['checks'] = { keyfile: { ok: true } }
      try {
        const version = await currentMigrationVersion(db)
        checks.database = { ok: true }
        checks.migrations = version === expected
          ? { ok: true }
          : { ok: false, detail: `schema version ${version}, expected ${expected}` }
      } catch (err) {
        checks.database = { ok: false, detail: err instanceof Error ? err.message : String(err) }
      }
      return { ready: Object.values(checks).every((c) => c.ok), checks }
    }

    app = buildApp({ verifyService, logger, readiness })
    await app.listen({ host: config.host, port: config.port })
  } catch (err) {
    await app?.close().catch(() => undefined)
    await db.close().catch(() => undefined)
    throw err
  }
  const running = app
  return {
    app: running,
    db,
    close: async () => {
      await running.close()
      await db.close()
    }
  }
}
