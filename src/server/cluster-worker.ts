// The worker's side of `yubival serve` with YUBIVAL_WORKERS > 1: the messages it exchanges with the
// primary (src/server/cluster.ts), and its Prometheus registry made available for aggregation.
import cluster from 'node:cluster'
import { AggregatorRegistry, type Registry } from 'prom-client'

/** Primary → worker. */
export type ToWorker = { yubival: 'shutdown' } | { yubival: 'abort' }
/** Worker → primary, once its Fastify app listens. */
export interface ListeningMessage { yubival: 'listening', port: number }

export function isListeningMessage (m: unknown): m is ListeningMessage {
  return typeof m === 'object' && m !== null && (m as { yubival?: unknown }).yubival === 'listening'
}

export function isClusterWorker (): boolean {
  return cluster.isWorker
}

export interface WorkerControls {
  /** Graceful shutdown (idempotent: the primary and a signal to the whole process group may both ask). */
  shutdown: (reason: string) => void
  /** Drop every connection now (the operator's second signal, relayed by the primary). */
  abort: () => void
}

/**
 * Tells the primary this worker listens on `port`, answers its metrics requests from `registry`, and
 * follows its shutdown and abort messages. A worker whose primary is gone (IPC channel closed: killed,
 * crashed) shuts down too, so no orphan keeps serving on the port.
 */
export function joinCluster (registry: Registry, port: number, controls: WorkerControls): void {
  // Constructing one installs prom-client's worker-side listener for the primary's metric requests.
  AggregatorRegistry.setRegistries([registry])
  void new AggregatorRegistry()
  process.on('message', (m: ToWorker) => {
    if (m?.yubival === 'shutdown') controls.shutdown('primary')
    else if (m?.yubival === 'abort') controls.abort()
  })
  process.on('disconnect', () => controls.shutdown('primary gone'))
  const message: ListeningMessage = { yubival: 'listening', port }
  process.send?.(message)
}
