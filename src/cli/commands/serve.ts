import cluster from 'node:cluster'
import { Option, type Command } from 'commander'
import { ConfigError, type Config } from '../../config.js'
import { isClusterWorker, joinCluster } from '../../server/cluster-worker.js'
import { createLogger } from '../../server/logger.js'
import { startService } from '../../server/service.js'
import { shutdownService } from '../../server/shutdown.js'
import { loadTlsMaterial } from '../../server/tls.js'
import { reloadService, takeOverSighup } from '../../server/reload.js'
import { CliError } from '../errors.js'
import { ksmFactoryFromConfig, type KsmFactory } from '../ksm-setup.js'
import { addDatabaseOptions, addDataDirOption, addKsmOptions, configFromOptions, type CommonOptionValues } from '../options.js'
import { announceListening } from './serve-banner.js'
import { runClusterPrimary } from './serve-cluster.js'

interface ServeOptions extends CommonOptionValues {
  host?: string
  port?: string
  logLevel?: string
}

export function registerServeCommand (program: Command): void {
  const cmd = program.command('serve')
    .description('run the validation server (WSAPI 2.0 /wsapi/2.0/verify and 1.0 /wsapi/verify)')
    .addOption(new Option('--host <host>', 'address to listen on (env YUBIVAL_HOST, default 127.0.0.1)'))
    .addOption(new Option('--port <port>', 'port to listen on (env YUBIVAL_PORT, default 8080)'))
    .addOption(new Option('--log-level <level>', 'fatal|error|warn|info|debug|trace|silent (env YUBIVAL_LOG_LEVEL, default info)'))
  addDataDirOption(cmd)
  addKsmOptions(cmd)
  addDatabaseOptions(cmd)
  cmd.action(async (opts: ServeOptions) => {
    // SIGHUP must never end the server (Node's default), not even while it starts: until it can reload,
    // one is remembered (bin/yubival catches those that come while the modules load).
    const hup = takeOverSighup()
    const extra: Partial<Config> = {}
    if (opts.host !== undefined) extra.host = opts.host
    if (opts.port !== undefined) {
      if (!/^\d+$/.test(opts.port) || Number(opts.port) > 65535) throw new Error(`--port: expected 0-65535, got ${JSON.stringify(opts.port)}`)
      extra.port = Number(opts.port)
    }
    if (opts.logLevel !== undefined) extra.logLevel = opts.logLevel as Config['logLevel']
    const config = configFromOptions(opts, extra)
    if (config.workers > 1 && config.databaseUrl === null) {
      throw new ConfigError('YUBIVAL_WORKERS', `${config.workers} processes need PostgreSQL (DATABASE_URL): ` +
        'the embedded PGlite database admits one process at a time; set YUBIVAL_WORKERS=1 or use PostgreSQL')
    }
    const worker = isClusterWorker()
    // Every setup problem (TLS files, keyfile, AEAD tree) is a configuration error: exit 2, one line.
    // The cluster primary checks them too, so a bad setting stops it before it forks anything.
    const tls = loadTlsMaterial(config)
    const baseLogger = createLogger(config.logLevel)
    const logger = worker ? baseLogger.child({ worker: cluster.worker?.id, pid: process.pid }) : baseLogger
    const primary = config.workers > 1 && !worker
    let ksm: KsmFactory
    try {
      ksm = ksmFactoryFromConfig(config, {
        info: (message) => { if (!worker) logger.info(message) },
        warn: (message) => { if (!worker) logger.warn(message) }
      })
    } catch (err) {
      throw err instanceof CliError ? new CliError(err.message, 2) : err
    }
    if (primary) return runClusterPrimary(config, logger, tls !== null, hup)

    let service: Awaited<ReturnType<typeof startService>>
    try {
      service = await startService(worker ? { ...config, adminPort: 0 } : config, { ksm, logger, tls })
    } catch (err) {
      // A worker's IPC channel would keep it alive after main() reported the error: let it go.
      if (worker) process.channel?.unref()
      throw err
    }
    const address = service.app.server.address()
    const port = typeof address === 'object' && address !== null ? address.port : config.port

    let closing = false
    let aborted = false
    const abort = (): void => {
      aborted = true
      service.abortConnections()
    }
    const shutdown = (signal: string): void => {
      if (closing) {
        // A second signal: the operator does not want to wait for the grace period. In a cluster the
        // primary relays that (the group's signals reach every worker as well as the primary).
        if (worker) return
        logger.warn({ signal }, 'second signal; dropping in-flight requests')
        abort()
        return
      }
      closing = true
      logger.info({ signal, graceMs: config.shutdownGraceMs }, 'shutting down: no new connections, finishing requests in flight')
      void shutdownService(service, { graceMs: config.shutdownGraceMs, logger }).then((result) => {
        // exit 1 whenever requests in flight were dropped (grace period over, or a second signal)
        const clean = result === 'clean' && !aborted
        if (clean) logger.info('shut down cleanly')
        process.exit(clean ? 0 : 1)
      })
    }
    process.on('SIGTERM', () => shutdown('SIGTERM'))
    process.on('SIGINT', () => shutdown('SIGINT'))
    hup.ready(() => { reloadService({ config, logger, server: service.app.server, clearAeadCache: ksm.clearCache }) })
    if (worker) {
      logger.info({ port }, 'worker listening')
      joinCluster(service.metrics.registry, port, { shutdown, abort, reload: hup.reload })
      return
    }
    announceListening(config, logger, { port, tls: tls !== null, adminAddress: service.admin?.server.address(), workers: 1 })
  })
}
