// Decorators that feed Metrics without the verify service or the database knowing about Prometheus.
import { performance } from 'node:perf_hooks'
import type { Database, QueryResult, Transaction, TransactionOptions } from '../db/database.js'
import type { VerifyService } from '../val/verify-service.js'
import type { Metrics } from './metrics.js'

export function instrumentVerifyService (service: VerifyService, metrics: Metrics): VerifyService {
  return {
    verify: async (input) => {
      const outcome = await service.verify(input)
      metrics.verify(outcome.status, outcome.reason, outcome.durationMs)
      return outcome
    }
  }
}

async function timed<T> (metrics: Metrics, operation: string, fn: () => Promise<T>): Promise<T> {
  const started = performance.now()
  let failed = true
  try {
    const result = await fn()
    failed = false
    return result
  } finally {
    metrics.dbQuery(operation, (performance.now() - started) / 1000, failed)
  }
}

/**
 * The same Database with every statement timed. Named statements (the verify path's prepared ones)
 * are labelled by name; anything else is `query`, and a whole transaction is `transaction`.
 */
export function instrumentDatabase (db: Database, metrics: Metrics): Database {
  return {
    get backend () { return db.backend },
    query: async <R>(text: string, params?: unknown[], name?: string): Promise<QueryResult<R>> =>
      timed(metrics, name ?? 'query', async () => db.query<R>(text, params, name)),
    transaction: async <T>(fn: (tx: Transaction) => Promise<T>, opts?: TransactionOptions): Promise<T> =>
      timed(metrics, 'transaction', async () => db.transaction(fn, opts)),
    close: async () => db.close()
  }
}
