// What /readyz checks: the database answers (within a short deadline, so the probe never hangs when the
// database is gone), its schema is at the version this code expects, and the AEAD tree is reachable.
// The keyfile is loaded before the server starts listening, so a running server always has it.
import { constants } from 'node:fs'
import { access } from 'node:fs/promises'
import type { Queryable } from '../db/database.js'
import { currentMigrationVersion } from '../db/migrate.js'
import type { ReadinessCheck, ReadinessReport } from './routes/health.js'

export interface ReadinessOptions {
  db: Queryable
  expectedVersion: number
  /** The AEAD tree to check; null when the KSM does not read files. */
  aeadDir: string | null
  timeoutMs: number
}

type Check = ReadinessReport['checks'][string]

function message (err: unknown): string {
  return err instanceof Error ? err.message : String(err)
}

async function withDeadline<T> (p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const deadline = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not answer within ${ms} ms`)), ms)
  })
  try {
    return await Promise.race([p, deadline])
  } finally {
    clearTimeout(timer)
  }
}

export function createReadiness (opts: ReadinessOptions): ReadinessCheck {
  // Probes arriving while one is still waiting on the database share it, so an outage cannot pile up
  // a queue of readiness queries in the pool.
  let inFlight: Promise<number> | null = null
  const schemaVersion = async (): Promise<number> => {
    inFlight ??= currentMigrationVersion(opts.db).finally(() => { inFlight = null })
    return withDeadline(inFlight, opts.timeoutMs, 'database')
  }

  return async () => {
    const checks: Record<string, Check> = { keyfile: { ok: true } }
    const [db, aeads] = await Promise.allSettled([
      schemaVersion(),
      opts.aeadDir === null ? Promise.resolve() : access(opts.aeadDir, constants.R_OK | constants.X_OK)
    ])
    if (db.status === 'fulfilled') {
      checks.database = { ok: true }
      checks.migrations = db.value === opts.expectedVersion
        ? { ok: true }
        : { ok: false, detail: `schema version ${db.value}, expected ${opts.expectedVersion}` }
    } else {
      checks.database = { ok: false, detail: message(db.reason) }
      checks.migrations = { ok: false, detail: 'unknown: database unavailable' }
    }
    checks.aeads = aeads.status === 'fulfilled' ? { ok: true } : { ok: false, detail: `AEAD directory: ${message(aeads.reason)}` }
    return { ready: Object.values(checks).every((c) => c.ok), checks }
  }
}
