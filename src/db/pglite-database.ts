import { mkdirSync } from 'node:fs'
import path from 'node:path'
import { PGlite, type Transaction as PgliteTransaction } from '@electric-sql/pglite'
import type { Database, QueryResult, Transaction } from './database.js'
import { acquireLockFile } from './lock-file.js'

function wrapTransaction (tx: PgliteTransaction): Transaction {
  return {
    query: async <R>(text: string, params: unknown[] = []) => ({ rows: (await tx.query<R>(text, params)).rows }),
    exec: async (script: string) => { await tx.exec(script) }
  }
}

/**
 * Embedded PostgreSQL (WASM) in a directory. One process at a time: PGlite has no server to arbitrate
 * between processes, so a lock file next to the directory refuses a second opener instead of letting
 * both write the same files.
 */
export class PgliteDatabase implements Database {
  readonly backend = 'pglite' as const

  private constructor (private readonly pg: PGlite, private readonly releaseLock: () => void) {}

  static async open (dir: string): Promise<PgliteDatabase> {
    const abs = path.resolve(dir)
    mkdirSync(path.dirname(abs), { recursive: true })
    const release = acquireLockFile(`${abs}.lock`, `embedded database ${abs}`)
    try {
      const pg = await PGlite.create(abs)
      return new PgliteDatabase(pg, release)
    } catch (err) {
      release()
      throw err
    }
  }

  // PGlite runs one statement at a time and queues the rest (also while a transaction is open), so
  // callers need no locking of their own. `name` is ignored: there is no connection to prepare on.
  async query<R> (text: string, params: unknown[] = []): Promise<QueryResult<R>> {
    return { rows: (await this.pg.query<R>(text, params)).rows }
  }

  async transaction<T> (fn: (tx: Transaction) => Promise<T>): Promise<T> {
    return this.pg.transaction(async (tx) => fn(wrapTransaction(tx)))
  }

  async close (): Promise<void> {
    try {
      if (!this.pg.closed) await this.pg.close()
    } finally {
      this.releaseLock()
    }
  }
}
