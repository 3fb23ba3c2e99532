import pg from 'pg'
import type { Database, QueryResult, Transaction, TransactionOptions } from './database.js'

export interface PgDatabaseOptions {
  poolSize: number
  /** Server-side statement_timeout for every pooled connection (the verify path). */
  statementTimeoutMs: number
  onConnectionError?: ((err: Error) => void) | undefined
}

// The client-side timeout fires only if the server's own statement_timeout could not (network gone), so
// it is a little longer: normally the server's clearer error wins.
const CLIENT_TIMEOUT_MARGIN_MS = 1000

const CLOSE_WAIT_MS = 2000

type TimedQueryConfig = pg.QueryConfig & { query_timeout?: number }

function defaultConnectionErrorHandler (err: Error): void {
  process.stderr.write(`yubival: database connection lost (${err.message}); it will be replaced\n`)
}

export class PgDatabase implements Database {
  readonly backend = 'postgresql' as const

  /** Connections not yet fully closed; pool.end() resolves before their sockets are. */
  private connections = 0
  private allClosed: (() => void) | null = null

  private constructor (private readonly pool: pg.Pool) {
    pool.on('connect', () => { this.connections++ })
    pool.on('remove', () => {
      this.connections--
      if (this.connections === 0) this.allClosed?.()
    })
  }

  static open (url: string, opts: PgDatabaseOptions): PgDatabase {
    const pool = new pg.Pool({
      connectionString: url,
      max: opts.poolSize,
      statement_timeout: opts.statementTimeoutMs,
      query_timeout: opts.statementTimeoutMs + CLIENT_TIMEOUT_MARGIN_MS,
      connectionTimeoutMillis: opts.statementTimeoutMs,
      keepAlive: true,
      application_name: 'yubival'
    })
    // Without a listener, an error on an idle connection (server restart, network drop) is an unhandled
    // 'error' event and kills the process. The pool discards the broken client by itself.
    pool.on('error', opts.onConnectionError ?? defaultConnectionErrorHandler)
    return new PgDatabase(pool)
  }

  /** Pool usage for metrics: open, idle, queued-for-a-connection, and the size limit. */
  poolStats (): { total: number, idle: number, waiting: number, max: number } {
    return { total: this.pool.totalCount, idle: this.pool.idleCount, waiting: this.pool.waitingCount, max: this.pool.options.max ?? 10 }
  }

  async query<R> (text: string, params: unknown[] = [], name?: string): Promise<QueryResult<R>> {
    const res = await this.pool.query(name === undefined ? { text, values: params } : { name, text, values: params })
    return { rows: res.rows as R[] }
  }

  async transaction<T> (fn: (tx: Transaction) => Promise<T>, opts: TransactionOptions = {}): Promise<T> {
    const client = await this.pool.connect()
    // A client whose ROLLBACK failed is in an unknown state: destroy it instead of reusing it.
    let broken: Error | undefined
    const readTimeout = opts.timeoutMs === undefined ? undefined
      : opts.timeoutMs === 0 ? 2 ** 31 - 1 : opts.timeoutMs + CLIENT_TIMEOUT_MARGIN_MS
    const run = async (text: string, values?: unknown[], name?: string): Promise<pg.QueryResult> => {
      const q: TimedQueryConfig = { text }
      if (values !== undefined) q.values = values
      if (name !== undefined) q.name = name
      if (readTimeout !== undefined) q.query_timeout = readTimeout
      return client.query(q)
    }
    try {
      await run('BEGIN')
      if (opts.timeoutMs !== undefined) {
        await run("SELECT set_config('statement_timeout', $1, true)", [String(opts.timeoutMs)])
      }
      const result = await fn({
        query: async <R>(text: string, params: unknown[] = [], name?: string) =>
          ({ rows: (await run(text, params, name)).rows as R[] }),
        exec: async (script: string) => { await run(script) }
      })
      await run('COMMIT')
      return result
    } catch (err) {
      try {
        await run('ROLLBACK')
      } catch (rollbackErr) {
        broken = rollbackErr as Error
      }
      throw err
    } finally {
      client.release(broken)
    }
  }

  /** Ends the pool and waits until every connection has said goodbye to the server. */
  async close (): Promise<void> {
    const closed = new Promise<void>((resolve) => {
      this.allClosed = resolve
      // Never hang shutdown on a socket that will not close.
      setTimeout(resolve, CLOSE_WAIT_MS).unref()
    })
    await this.pool.end()
    if (this.connections > 0) await closed
  }
}
