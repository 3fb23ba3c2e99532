// What `yubival serve` says once it listens: next steps for people (stderr) and one log line for
// machines ("yubival listening", which scripts and tests wait for), in one place for both process modes.
import type { Server } from 'node:net'
import type { Logger } from 'pino'
import type { Config } from '../../config.js'

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

export function announceListening (config: Config, logger: Logger, opts: {
  port: number
  tls: boolean
  adminAddress: ReturnType<Server['address']> | undefined
  workers: number
}): void {
  const host = config.host.includes(':') ? `[${config.host}]` : config.host
  const scheme = opts.tls ? 'https' : 'http'
  // For people, not log parsers: stderr, once, after the server is really listening.
  process.stderr.write(nextSteps(config, `${scheme}://${host}:${opts.port}`))
  const admin = opts.adminAddress
  logger.info({
    host: config.host,
    port: opts.port,
    scheme,
    admin: typeof admin === 'object' && admin !== null ? `${config.adminHost}:${admin.port}` : null,
    database: config.databaseUrl === null ? 'pglite' : 'postgresql',
    workers: opts.workers
  }, 'yubival listening')
}
