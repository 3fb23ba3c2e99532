// Schema migrations: postgrator 8 running migrations/NNN.do.<name>.sql through our Database interface, so
// the same files serve PostgreSQL and PGlite.
import { fileURLToPath } from 'node:url'
import Postgrator from 'postgrator'
import type { Config } from '../config.js'
import { openDatabase, withAdvisoryLock, type Database, type OpenDatabaseOptions, type Queryable, type Transaction } from './database.js'

// Same relative position from src/db (vitest) and dist/db (built CLI).
const MIGRATIONS_DIR = fileURLToPath(new URL('../../migrations/', import.meta.url))
const SCHEMA_TABLE = 'yubival_schema_version'
// A replica may wait this long for another replica's migration; statements of a migration get as long.
const MIGRATION_TIMEOUT_MS = 10 * 60_000

export class SchemaTooNewError extends Error {
  constructor (readonly databaseVersion: number, readonly expectedVersion: number) {
    super(`the database schema is at version ${databaseVersion}, but this yubival only knows versions up to ` +
      `${expectedVersion}: a newer yubival has migrated it; run that version (or restore a backup)`)
    this.name = 'SchemaTooNewError'
  }
}

export interface MigrateResult {
  previousVersion: number
  version: number
  /** File names of the migrations applied now (empty: already up to date). */
  applied: string[]
}

function postgrator (q: Queryable, exec?: Transaction['exec']): Postgrator {
  return new Postgrator({
    driver: 'pg',
    migrationPattern: `${MIGRATIONS_DIR}*.sql`,
    schemaTable: SCHEMA_TABLE,
    // Checksums are of LF-normalised text, so a CRLF checkout does not look like an edited migration.
    newline: 'LF',
    execQuery: async (sql: string) => q.query(sql),
    ...(exec === undefined ? {} : { execSqlScript: exec })
  })
}

const noDatabase: Queryable = {
  query: async () => { throw new Error('no database: only reading migration files') }
}

let expected: Promise<number> | null = null

/** The schema version this code needs (highest migration file; read once, the files ship with the code). */
export async function expectedMigrationVersion (): Promise<number> {
  expected ??= postgrator(noDatabase).getMaxVersion()
  return expected
}

/** The schema version the database is at (0: never migrated). Read-only, no lock. */
export async function currentMigrationVersion (db: Queryable): Promise<number> {
  return postgrator(db).getDatabaseVersion()
}

/**
 * Brings the schema to expectedMigrationVersion(). All pending migrations run in one transaction under
 * an advisory lock, so replicas starting together apply them once (the others wait, then find nothing
 * to do) and a failing migration leaves the schema as it was.
 */
export async function migrate (db: Database): Promise<MigrateResult> {
  return withAdvisoryLock(db, 'migrate', async (tx) => {
    const p = postgrator(tx, tx.exec)
    const expected = await p.getMaxVersion()
    const previousVersion = await p.getDatabaseVersion()
    // Checked first: postgrator would otherwise "migrate" down to our version by running undo scripts.
    if (previousVersion > expected) throw new SchemaTooNewError(previousVersion, expected)
    const applied = await p.migrate(String(expected))
    return { previousVersion, version: expected, applied: applied.map((m) => m.filename.replace(/^.*\//, '')) }
  }, { timeoutMs: MIGRATION_TIMEOUT_MS })
}

/** Opens the configured database and migrates it; closes it again if migrating fails. */
export async function openMigratedDatabase (config: Config, opts?: OpenDatabaseOptions): Promise<Database> {
  const db = await openDatabase(config, opts)
  try {
    await migrate(db)
    return db
  } catch (err) {
    await db.close()
    throw err
  }
}
