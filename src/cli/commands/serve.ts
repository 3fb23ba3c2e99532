import { Option, type Command } from 'commander'
import type { Config } from '../../config.js'
import { asyncStdout, createLogger } from '../../server/logger.js'
import { startService } from '../../server/service.js'
import { shutdownService } from '../../server/shutdown.js'
import { loadTlsMaterial } from '../../server/tls.js'
import { CliError } from '../errors.js'
import { ksmFactoryFromConfig, type KsmFactory } from '../ksm-setup.js'
import { addDatabaseOptions, addDataDirOption, addKsmOptions, configFromOptions, type CommonOptionValues } from '../options.js'

interface ServeOptions extends CommonOptionValues {
  host?: string
  port?: string
  logLevel?: string
}

function nextSteps (config: Config, url: string): string {
  const embedded = config.databaseUrl === null
  const db = embedded ? `embedded PGlite in ${config.pgliteDir}` : 'PostgreSQL (DATABASE_URL)'
  return [
    '',
    `yubival is listening on ${url}/wsapi/2.0/verify (database: ${db})`,
    embedded
      ? 'Next steps. The embedded database admits one process at a time: stop this server (Ctrl-C) to run\n' +
        '`yubival clients …` commands, then start it again (or use PostgreSQL via DATABASE_URL).'
      : 'Next steps, in another terminal:',
    '  yubival clients gen                                 # prints ID,KEY for pam_yubico',
    '  yubival keys generate --start-public-id vvcccccccccb --count 1 --print ykpersonalize',
    '                                                      # program a YubiKey with the printed command',
    'Then in /etc/pam.d/<service>, with /etc/yubikey_mappings holding `user:vvcccccccccb`:',
    `  auth required pam_yubico.so id=ID key=KEY urllist=${url}/wsapi/2.0/verify authfile=/etc/yubikey_mappings`,
    ''
  ].join('\n')
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
    const extra: Partial<Config> = {}
    if (opts.host !== undefined) extra.host = opts.host
    if (opts.port !== undefined) {
      if (!/^\d+$/.test(opts.port) || Number(opts.port) > 65535) throw new Error(`--port: expected 0-65535, got ${JSON.stringify(opts.port)}`)
      extra.port = Number(opts.port)
    }
    if (opts.logLevel !== undefined) extra.logLevel = opts.logLevel as Config['logLevel']
    const config = configFromOptions(opts, extra)
    // Every setup problem (TLS files, keyfile, AEAD tree) is a configuration error: exit 2, one line.
    const tls = loadTlsMaterial(config)
    const logger = createLogger(config.logLevel, asyncStdout())
    let ksm: KsmFactory
    try {
      ksm = ksmFactoryFromConfig(config, {
        info: (message) => logger.info(message),
        warn: (message) => logger.warn(message)
      })
    } catch (err) {
      throw err instanceof CliError ? new CliError(err.message, 2) : err
    }
    const service = await startService(config, { ksm, logger, tls })
    const address = service.app.server.address()
    const port = typeof address === 'object' && address !== null ? address.port : config.port
    const host = config.host.includes(':') ? `[${config.host}]` : config.host
    const scheme = tls === null ? 'http' : 'https'
    // For people, not log parsers: stderr, once, after the server is really listening.
    process.stderr.write(nextSteps(config, `${scheme}://${host}:${port}`))
    const adminAddress = service.admin?.server.address()
    logger.info({
      host: config.host,
      port,
      scheme,
      admin: typeof adminAddress === 'object' && adminAddress !== null ? `${config.adminHost}:${adminAddress.port}` : null,
      database: config.databaseUrl === null ? 'pglite' : 'postgresql'
    }, 'yubival listening')

    let closing = false
    const shutdown = (signal: string): void => {
      if (closing) {
        // A second signal: the operator does not want to wait for the grace period.
        logger.warn({ signal }, 'second signal; dropping in-flight requests')
        service.abortConnections()
        return
      }
      closing = true
      logger.info({ signal, graceMs: config.shutdownGraceMs }, 'shutting down: no new connections, finishing requests in flight')
      void shutdownService(service, { graceMs: config.shutdownGraceMs, logger }).then((result) => {
        if (result === 'clean') logger.info('shut down cleanly')
        process.exit(result === 'clean' ? 0 : 1)
      })
    }
    process.on('SIGTERM', () => shutdown('SIGTERM'))
    process.on('SIGINT', () => shutdown('SIGINT'))
  })
}
