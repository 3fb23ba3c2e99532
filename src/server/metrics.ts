// Prometheus metrics (prom-client). One Registry per service: tests build several in one process, and
// the process-wide default registry would mix them up.
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client'
import { KSM_FAILURE_REASONS, REASONS, STATUS_OF_REASON, type KsmFailureReason, type Reason, type WsapiStatus } from '../outcome.js'

export type RateLimitKind = 'ip' | 'client'

export interface PoolStats {
  /** Open connections, idle ones among them, and queries waiting for a connection. */
  total: number
  idle: number
  waiting: number
  max: number
}

export interface Metrics {
  readonly registry: Registry
  verify(status: WsapiStatus, reason: Reason, durationMs: number): void
  dbQuery(operation: string, seconds: number, failed: boolean): void
  rateLimited(kind: RateLimitKind): void
  /** Reports pool usage on every scrape. */
  watchPool(stats: () => PoolStats): void
  /** The text exposition of every metric. */
  render(): Promise<string>
}

const KSM_REASONS = new Set<string>(KSM_FAILURE_REASONS)
// Verify latency: in-process KSM plus one or two indexed statements, so mostly well under 10 ms.
const VERIFY_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5]
const DB_BUCKETS = [0.0002, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5]

export function createMetrics (opts: { defaultMetrics?: boolean } = {}): Metrics {
  const registry = new Registry()
  if (opts.defaultMetrics !== false) collectDefaultMetrics({ register: registry })
  const registers = [registry]

  const counter = <L extends string>(name: string, help: string, labelNames: readonly L[]): Counter<L> =>
    new Counter({ name, help, labelNames, registers })
  const histogram = <L extends string>(name: string, help: string, labelNames: readonly L[], buckets: number[]): Histogram<L> =>
    new Histogram({ name, help, labelNames, buckets, registers })

  const verifyTotal = counter('verify_total', 'Verify requests answered, by WSAPI status and reason', ['status', 'reason'])
  const verifyDuration = histogram('yubival_verify_duration_seconds',
    'Time to produce a verify answer (KSM, database, signing), by WSAPI status', ['status'], VERIFY_BUCKETS)
  const ksmFailures = counter('yubival_ksm_decrypt_failures_total', 'OTPs the KSM could not decrypt, by reason', ['reason'])
  const replays = counter('yubival_replays_total',
    'Replayed OTPs (kind=otp) and replayed requests with the same nonce (kind=request)', ['kind'])
  const dbDuration = histogram('yubival_db_query_duration_seconds',
    'Database statement and transaction latency, by operation (prepared statement name, query or transaction)', ['operation'], DB_BUCKETS)
  const dbErrors = counter('yubival_db_query_errors_total', 'Database statements and transactions that failed, by operation', ['operation'])
  const rateLimited = counter('yubival_rate_limited_total',
    'Verify requests refused with HTTP 429, by the limit that was hit (ip or client)', ['limit'])

  // Zero series for every known label value, so rate() and alerts work before the first event.
  for (const reason of REASONS) verifyTotal.inc({ status: STATUS_OF_REASON[reason], reason }, 0)
  // The per-verify series, resolved once: prom-client would otherwise hash the label set on every call.
  const verifyByReason = new Map(REASONS.map((reason) => [reason, verifyTotal.labels({ status: STATUS_OF_REASON[reason], reason })]))
  const durationByStatus = new Map<string, ReturnType<typeof verifyDuration.labels>>()
  for (const reason of KSM_FAILURE_REASONS) ksmFailures.inc({ reason }, 0)
  for (const kind of ['otp', 'request']) replays.inc({ kind }, 0)
  for (const limit of ['ip', 'client']) rateLimited.inc({ limit }, 0)

  return {
    registry,
    verify (status, reason, durationMs) {
      const counted = verifyByReason.get(reason)
      if (counted !== undefined && STATUS_OF_REASON[reason] === status) counted.inc()
      else verifyTotal.inc({ status, reason })
      let timer = durationByStatus.get(status)
      if (timer === undefined) {
        timer = verifyDuration.labels({ status })
        durationByStatus.set(status, timer)
      }
      timer.observe(durationMs / 1000)
      if (KSM_REASONS.has(reason)) ksmFailures.inc({ reason: reason as KsmFailureReason })
      if (reason === 'replayed_otp') replays.inc({ kind: 'otp' })
      if (reason === 'replayed_request') replays.inc({ kind: 'request' })
    },
    dbQuery (operation, seconds, failed) {
      dbDuration.observe({ operation }, seconds)
      if (failed) dbErrors.inc({ operation })
    },
    rateLimited (kind) {
      rateLimited.inc({ limit: kind })
    },
    watchPool (stats) {
      const gauge = (name: string, help: string, pick: (s: PoolStats) => number): void => {
        // prom-client calls collect() with the gauge as `this`.
        const g: Gauge = new Gauge({ name, help, registers, collect () { g.set(pick(stats())) } })
      }
      gauge('yubival_db_pool_connections', 'Open PostgreSQL connections in the pool', (s) => s.total)
      gauge('yubival_db_pool_idle_connections', 'Idle PostgreSQL connections in the pool', (s) => s.idle)
      gauge('yubival_db_pool_waiting_requests', 'Queries waiting for a free PostgreSQL connection', (s) => s.waiting)
      gauge('yubival_db_pool_max_connections', 'Pool size limit (YUBIVAL_DB_POOL_SIZE)', (s) => s.max)
    },
    render: async () => registry.metrics()
  }
}
