// The worker's side of `yubival serve` with YUBIVAL_WORKERS > 1: the messages it exchanges with the
// primary (src/server/cluster.ts), including its Prometheus metrics for the primary's /metrics.
import cluster from 'node:cluster'
import type { MetricObjectWithValues, MetricValue, Registry } from 'prom-client'

/** Primary → worker. */
export type ToWorker =
  | { yubival: 'shutdown' }
  | { yubival: 'abort' }
  | { yubival: 'reload' }
  | { yubival: 'metrics', id: number }
/** Worker → primary, once its Fastify app listens. */
export interface ListeningMessage { yubival: 'listening', port: number }
/** Worker → primary: the answer to a metrics request. */
export interface MetricsMessage { yubival: 'metrics', id: number, metrics: Array<MetricObjectWithValues<MetricValue<string>>> }

const isMessage = (m: unknown, kind: string): boolean =>
  typeof m === 'object' && m !== null && (m as { yubival?: unknown }).yubival === kind

export function isListeningMessage (m: unknown): m is ListeningMessage {
  return isMessage(m, 'listening')
}

export function isMetricsMessage (m: unknown): m is MetricsMessage {
  return isMessage(m, 'metrics') && Array.isArray((m as { metrics?: unknown }).metrics)
}

export function isClusterWorker (): boolean {
  return cluster.isWorker
}

export interface WorkerControls {
  /** Graceful shutdown (idempotent: the primary and a signal to the whole process group may both ask). */
  shutdown: (reason: string) => void
  /** Drop every connection now (the operator's second signal, relayed by the primary). */
  abort: () => void
  /** SIGHUP passed on by the primary. */
  reload: () => void
}

/**
 * Tells the primary this worker listens on `port`, answers its metrics requests from `registry`, and
 * follows its shutdown, abort and reload messages. If the primary dies (killed, crashed), Node's cluster
 * code ends this worker at once (requests in flight are lost): no orphan keeps serving on the port.
 */
export function joinCluster (registry: Registry, port: number, controls: WorkerControls): void {
  process.on('message', (m: ToWorker) => {
    if (m?.yubival === 'shutdown') controls.shutdown('primary')
    else if (m?.yubival === 'abort') controls.abort()
    else if (m?.yubival === 'reload') controls.reload()
    else if (m?.yubival === 'metrics' && typeof m.id === 'number') {
      void registry.getMetricsAsJSON().then((metrics) => {
        const answer: MetricsMessage = { yubival: 'metrics', id: m.id, metrics }
        if (process.connected) process.send?.(answer)
      })
    }
  })
  const message: ListeningMessage = { yubival: 'listening', port }
  process.send?.(message)
}
