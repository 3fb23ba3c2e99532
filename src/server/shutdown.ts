// Graceful shutdown: stop accepting, let in-flight requests finish, close the pool — within a grace
// period, after which the remaining connections are dropped.
import type { Logger } from 'pino'
import type { RunningService } from './service.js'

export type ShutdownResult = 'clean' | 'timed-out' | 'failed'

export async function shutdownService (service: Pick<RunningService, 'close' | 'abortConnections'>,
  opts: { graceMs: number, logger: Logger }): Promise<ShutdownResult> {
  let timer: NodeJS.Timeout | undefined
  const graceOver = new Promise<'timed-out'>((resolve) => { timer = setTimeout(() => resolve('timed-out'), opts.graceMs) })
  const closed = service.close().then(() => 'clean' as const, (err: unknown) => {
    opts.logger.error({ err: err instanceof Error ? err.message : String(err) }, 'error while shutting down')
    return 'failed' as const
  })
  const result = await Promise.race([closed, graceOver])
  clearTimeout(timer)
  if (result !== 'timed-out') return result
  opts.logger.error({ graceMs: opts.graceMs }, 'requests still in flight after the shutdown grace period; dropping them')
  service.abortConnections()
  // Dropping the sockets lets close() finish (it also ends the pool); give it a moment, no more.
  await Promise.race([closed, new Promise((resolve) => setTimeout(resolve, 1000).unref())])
  return 'timed-out'
}
