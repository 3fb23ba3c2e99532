// One small interface over PostgreSQL (pg Pool) and embedded PGlite, so repositories, migrations and
// tests are written once. Only parameterised statements go through `query`.
import type { Config } from '../config.js'

export interface QueryResult<R> {
  rows: R[]
}

export interface Queryable {
  /**
   * One statement with $1.. parameters. `name` makes it a named prepared statement on PostgreSQL (parsed
   * once per connection; hot-path statements use it); PGlite ignores it.
   */
  query<R = Record<string, unknown>>(text: string, params?: unknown[], name?: string): Promise<QueryResult<R>>
}

export interface Transaction extends Queryable {
  /** Several `;`-separated statements without parameters (migration scripts). */
  exec(script: string): Promise<void>
}

export interface TransactionOptions {
  /**
   * Statement timeout inside this transaction, ms (0 = none). Default: the pool's verify-path timeout,
   * which is too short for migrations or for waiting on another replica's advisory lock.
   */
  timeoutMs?: number
}

export type Backend = 'postgresql' | 'pglite'

export interface Database extends Queryable {
  readonly backend: Backend
  /** Runs fn in one transaction on one connection: COMMIT when it resolves, ROLLBACK when it throws. */
  transaction<T>(fn: (tx: Transaction) => Promise<T>, opts?: TransactionOptions): Promise<T>
  close(): Promise<void>
}

export interface OpenDatabaseOptions {
  /**
   * Called when an idle pooled connection fails (server restart, network drop). The pool replaces the
   * connection; this is only for logging. Default: one line on stderr.
   */
  onConnectionError?: (err: Error) => void
}

/** PostgreSQL when config.databaseUrl is set, else PGlite in config.pgliteDir. */
export async function openDatabase (config: Config, opts: OpenDatabaseOptions = {}): Promise<Database> {
  if (config.databaseUrl !== null) {
    const { PgDatabase } = await import('./pg-database.js')
    return PgDatabase.open(config.databaseUrl, {
      poolSize: config.dbPoolSize,
      statementTimeoutMs: config.dbStatementTimeoutMs,
      onConnectionError: opts.onConnectionError
    })
  }
  // Loaded lazily: the WASM build is large and PostgreSQL deployments never need it.
  const { PgliteDatabase } = await import('./pglite-database.js')
  return PgliteDatabase.open(config.pgliteDir)
}

// Advisory lock keys, two int4 halves: a namespace for yubival (ASCII 'yvl\0') and one id per purpose, so
// we never collide with locks taken by other applications sharing the database.
const LOCK_NAMESPACE = 0x79766c00
export const ADVISORY_LOCKS = {
  migrate: 1,
  createClients: 2
} as const
export type AdvisoryLockName = keyof typeof ADVISORY_LOCKS

/**
 * Runs fn in a transaction that first takes a transaction-scoped PostgreSQL advisory lock: callers with
 * the same lock name (in any process or replica) run one after the other; the lock ends with the
 * transaction, so a crashed caller can never leave it held.
 */
export async function withAdvisoryLock<T> (
  db: Database, lock: AdvisoryLockName, fn: (tx: Transaction) => Promise<T>, opts?: TransactionOptions
): Promise<T> {
  return db.transaction(async (tx) => {
    await tx.query('SELECT pg_advisory_xact_lock($1::int, $2::int)', [LOCK_NAMESPACE, ADVISORY_LOCKS[lock]])
    return fn(tx)
  }, opts)
}
