// `yubival serve` with YUBIVAL_WORKERS > 1, the primary process: starts the cluster
// (src/server/cluster.ts), announces it, and turns SIGTERM/SIGINT into a graceful shutdown of every
// worker (a second signal drops what is still in flight), exiting 0 when all shut down cleanly.
import type { Logger } from 'pino'
import type { Config } from '../../config.js'
import { startCluster, WorkerStartError } from '../../server/cluster.js'
import { CliError } from '../errors.js'
import type { SighupControl } from '../../server/reload.js'
import { announceListening } from './serve-banner.js'

export async function runClusterPrimary (config: Config, logger: Logger, tls: boolean, hup: SighupControl): Promise<void> {
  let primary: Awaited<ReturnType<typeof startCluster>>
  try {
    primary = await startCluster(config, logger)
  } catch (err) {
    throw err instanceof WorkerStartError ? new CliError(err.message, err.exitCode) : err
  }
  const signal = (name: string) => () => primary.shutdown(name)
  process.on('SIGTERM', signal('SIGTERM'))
  process.on('SIGINT', signal('SIGINT'))
  // `systemctl reload` signals the primary only: it tells every listening worker (one still starting
  // reads the files afresh); a SIGHUP while the cluster started is passed on once it is up
  hup.ready(() => {
    const n = primary.reload()
    logger.info({ workers: n }, 'SIGHUP: passed on to the workers')
  })
  announceListening(config, logger, { port: primary.port, tls, adminAddress: primary.admin?.server.address(), workers: config.workers })
  void primary.stopped.then((code) => {
    if (code === 0) logger.info('shut down cleanly')
    process.exit(code)
  })
}
