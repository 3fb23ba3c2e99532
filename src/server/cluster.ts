// `yubival serve` with YUBIVAL_WORKERS > 1: the primary process. It forks the workers (each one the
// whole Fastify app on the shared public port; the accept statement is atomic in PostgreSQL, so a
// replayed OTP is refused whichever process sees it), restarts one that dies, owns the admin listener
// (/metrics summed over the workers, /healthz, /readyz) and shuts the workers down gracefully.
import cluster, { type Worker } from 'node:cluster'
import type { FastifyInstance } from 'fastify'
import type { Logger } from 'pino'
import { AggregatorRegistry, type MetricObjectWithValues, type MetricValue } from 'prom-client'
import type { Config } from '../config.js'
import { openDatabase } from '../db/database.js'
import { expectedMigrationVersion, migrate } from '../db/migrate.js'
import { buildAdminApp } from './admin-app.js'
import { isListeningMessage, isMetricsMessage, type MetricsMessage, type ToWorker } from './cluster-worker.js'
import { createReadiness } from './readiness.js'
import type { ReadinessCheck } from './routes/health.js'
import { listen } from './service.js'

// Restart backoff: doubles while workers keep dying young, starts over after a worker ran a while.
const RESTART_MIN_MS = 100
const RESTART_MAX_MS = 10_000
const HEALTHY_RUN_MS = 10_000
// On top of the workers' own grace period: how long the primary waits for them to exit.
const EXIT_SLACK_MS = 5_000
// A worker that neither listens nor fails within this time (database hanging, …) stops the start.
const WORKER_START_TIMEOUT_MS = 120_000
// A /metrics scrape waits this long for each worker; a worker that does not answer is left out.
const METRICS_WAIT_MS = 2_000

type WorkerMetrics = MetricsMessage['metrics']

/** Every series of a worker gets its slot as label `worker`, so a replaced worker's reset is per series. */
function labelled (metrics: WorkerMetrics, slot: number): Array<MetricObjectWithValues<MetricValue<string>>> {
  return metrics.map((m) => ({ ...m, values: m.values.map((v) => ({ ...v, labels: { ...v.labels, worker: String(slot) } })) }))
}

/** A worker exited before it ever listened while the cluster was starting (its error is on stderr). */
export class WorkerStartError extends Error {
  constructor (readonly exitCode: number, message = `a worker process exited with code ${exitCode} before it listened; see its message above`) {
    super(message)
    this.name = 'WorkerStartError'
  }
}

export interface ClusterPrimary {
  /** The public port the workers share. */
  port: number
  admin: FastifyInstance | null
  /** First call: graceful shutdown of every worker; a second call tells them to drop what is in flight. */
  shutdown: (signal: string) => void
  /** SIGHUP: passed on to the workers that listen (one still starting reads everything afresh anyway). */
  reload: () => number
  /** Resolves after a shutdown with the exit code: 0 when every worker shut down cleanly, else 1. */
  stopped: Promise<number>
}

export async function startCluster (config: Config, logger: Logger): Promise<ClusterPrimary> {
  const count = config.workers
  // Migrations run here once, before any worker starts (the workers then find nothing to apply); the
  // same small pool answers /readyz.
  const db = await openDatabase({ ...config, dbPoolSize: 2 }, {
    onConnectionError: (err) => logger.warn({ reason: 'db_unavailable', err: err.message }, 'database connection lost')
  })
  // `slot` (1..N) is kept by a worker's replacement: it labels the worker's metrics
  const live = new Map<Worker, { startedAt: number, listening: boolean, slot: number }>()
  const pendingMetrics = new Map<number, (metrics: WorkerMetrics | null) => void>()
  let metricsRequest = 0
  let port = -1
  let closing = false
  let restartDelay = RESTART_MIN_MS
  const restartTimers = new Set<NodeJS.Timeout>()
  let admin: FastifyInstance | null = null
  /** Set once every worker listened: from then on a worker that dies is replaced. */
  let running = false
  let exitedUnclean = false
  let onAllExited: (() => void) | null = null
  let onStartEvent: (() => void) | null = null
  let startFailure: number | null = null

  const listeningCount = (): number => [...live.values()].filter((w) => w.listening).length
  const send = (worker: Worker, message: ToWorker): void => {
    if (worker.isConnected()) worker.send(message)
  }
  const fork = (slot: number): void => {
    const worker = cluster.fork()
    live.set(worker, { startedAt: Date.now(), listening: false, slot })
    worker.on('message', (m: unknown) => {
      if (isMetricsMessage(m)) {
        pendingMetrics.get(m.id)?.(m.metrics)
        return
      }
      if (!isListeningMessage(m)) return
      port = m.port
      const state = live.get(worker)
      if (state !== undefined) state.listening = true
      if (running) logger.info({ worker: worker.id, pid: worker.process.pid }, 'worker listening')
      onStartEvent?.()
    })
  }

  cluster.on('exit', (worker, code, signal) => {
    const state = live.get(worker)
    live.delete(worker)
    if (closing) {
      // a worker still starting is ended with SIGTERM: that is no unclean exit
      const stoppedWhileStarting = state?.listening === false && signal === 'SIGTERM'
      if (code !== 0 && !stoppedWhileStarting) {
        exitedUnclean = true
        logger.error({ worker: worker.id, pid: worker.process.pid, code, signal }, 'worker process did not shut down cleanly')
      }
      if (live.size === 0) onAllExited?.()
      return
    }
    if (!running) {
      // Still starting: a worker that cannot start (bad port, database down) stops the whole server.
      startFailure ??= code === null || code === 0 ? 1 : code
      onStartEvent?.()
      return
    }
    const ranMs = Date.now() - (state?.startedAt ?? Date.now())
    if (ranMs >= HEALTHY_RUN_MS) restartDelay = RESTART_MIN_MS
    logger.error({ worker: worker.id, pid: worker.process.pid, code, signal, ranMs, restartInMs: restartDelay },
      'worker process died; starting another')
    const slot = state?.slot ?? 0
    const timer = setTimeout(() => { restartTimers.delete(timer); if (!closing) fork(slot) }, restartDelay)
    restartTimers.add(timer)
    restartDelay = Math.min(RESTART_MAX_MS, restartDelay * 2)
  })

  const stopWorkers = async (graceMs: number): Promise<void> => {
    for (const t of restartTimers) clearTimeout(t)
    restartTimers.clear()
    if (live.size === 0) return
    const allExited = new Promise<void>((resolve) => { onAllExited = resolve })
    // A worker still starting has no message handler yet: a plain SIGTERM ends it.
    for (const [worker, state] of live) {
      if (state.listening) send(worker, { yubival: 'shutdown' })
      else worker.process.kill('SIGTERM')
    }
    let timer: NodeJS.Timeout | undefined
    const late = new Promise<'late'>((resolve) => { timer = setTimeout(() => resolve('late'), graceMs + EXIT_SLACK_MS) })
    if (await Promise.race([allExited, late]) === 'late') {
      logger.error({ workers: live.size }, 'worker processes did not exit after the grace period; killing them')
      exitedUnclean = true
      for (const worker of live.keys()) worker.process.kill('SIGKILL')
      await allExited
    }
    clearTimeout(timer)
  }

  /** Asks one worker for its metrics; null when it does not answer in time. */
  const askMetrics = async (worker: Worker): Promise<WorkerMetrics | null> => new Promise((resolve) => {
    const id = ++metricsRequest
    const timer = setTimeout(() => { pendingMetrics.delete(id); resolve(null) }, METRICS_WAIT_MS)
    pendingMetrics.set(id, (metrics) => { clearTimeout(timer); pendingMetrics.delete(id); resolve(metrics) })
    send(worker, { yubival: 'metrics', id })
  })
  // Only listening workers are asked (one still starting cannot answer yet), each labelled with its slot.
  const collectMetrics = async (): Promise<string> => {
    const asked = [...live].filter(([, st]) => st.listening)
    const answers = await Promise.all(asked.map(async ([w, st]) => {
      const metrics = await askMetrics(w)
      return metrics === null ? null : labelled(metrics, st.slot)
    }))
    return AggregatorRegistry.aggregate(answers.filter((a) => a !== null)).metrics()
  }

  try {
    await migrate(db)
    const base = createReadiness({
      db,
      expectedVersion: await expectedMigrationVersion(),
      aeadDir: config.aeadStore === 'files' && config.ksmUrls.length === 0 ? config.aeadDir : null,
      timeoutMs: config.readyTimeoutMs
    })
    // Ready while at least one worker serves (a restarting one does not take the instance out).
    const readiness: ReadinessCheck = async () => {
      const report = await base()
      const n = listeningCount()
      const workers = { ok: n > 0, detail: `${n} of ${count} worker processes listening` }
      return { ready: report.ready && n > 0, checks: { ...report.checks, workers } }
    }

    let startTimer: NodeJS.Timeout | undefined
    const started = new Promise<void>((resolve, reject) => {
      onStartEvent = () => {
        if (startFailure !== null) reject(new WorkerStartError(startFailure))
        else if (listeningCount() === count) resolve()
      }
      startTimer = setTimeout(() => reject(new WorkerStartError(1,
        `${count - listeningCount()} of ${count} worker processes did not listen within ${WORKER_START_TIMEOUT_MS / 1000} s; see their messages above`)),
      WORKER_START_TIMEOUT_MS)
    })
    for (let slot = 1; slot <= count; slot++) fork(slot)
    await started.finally(() => clearTimeout(startTimer))
    onStartEvent = null
    running = true

    if (config.adminPort !== 0) {
      const app = buildAdminApp({
        metrics: { registry: new AggregatorRegistry(), render: collectMetrics },
        readiness,
        logger
      })
      await listen(app, config.adminHost, config.adminPort, 'YUBIVAL_ADMIN_PORT')
      admin = app
    }
  } catch (err) {
    closing = true
    await stopWorkers(config.shutdownGraceMs)
    await db.close().catch(() => undefined)
    throw err
  }
  const runningAdmin = admin

  let resolveStopped: (code: number) => void = () => undefined
  const stopped = new Promise<number>((resolve) => { resolveStopped = resolve })
  return {
    port,
    admin: runningAdmin,
    stopped,
    reload: () => {
      const listening = [...live].filter(([, st]) => st.listening)
      for (const [worker] of listening) send(worker, { yubival: 'reload' })
      return listening.length
    },
    shutdown: (signal) => {
      if (closing) {
        logger.warn({ signal }, 'second signal; workers drop their in-flight requests')
        for (const worker of live.keys()) send(worker, { yubival: 'abort' })
        return
      }
      closing = true
      logger.info({ signal, graceMs: config.shutdownGraceMs, workers: live.size },
        'shutting down: workers stop accepting and finish requests in flight')
      void Promise.all([stopWorkers(config.shutdownGraceMs), runningAdmin?.close()])
        .then(async () => db.close())
        .catch((err: unknown) => {
          exitedUnclean = true
          logger.error({ err: err instanceof Error ? err.message : String(err) }, 'error while shutting down')
        })
        .then(() => resolveStopped(exitedUnclean ? 1 : 0))
    }
  }
}
