// SIGHUP (`systemctl reload`, `docker kill -s HUP`): read the TLS certificate and key again (a renewed
// certificate without a restart) and forget the cached AEADs (a replaced or deleted AEAD is read again).
// A certificate that does not load is logged and the one in use is kept. Without a handler, Node would
// end the process on SIGHUP.
import type { Server } from 'node:https'
import type { Logger } from 'pino'
import type { Config } from '../config.js'
import { loadTlsMaterial } from './tls.js'

export interface ReloadTargets {
  config: Pick<Config, 'tlsCertFile' | 'tlsKeyFile'>
  logger: Logger
  /** The verify listener (an https.Server when TLS is on). */
  server: unknown
  clearAeadCache: () => void
}

export function reloadService (t: ReloadTargets): { reloaded: string[], failed: string[] } {
  const reloaded: string[] = []
  const failed: string[] = []
  if (t.config.tlsCertFile !== null && t.config.tlsKeyFile !== null) {
    try {
      const material = loadTlsMaterial(t.config)
      if (material !== null) (t.server as Server).setSecureContext(material)
      reloaded.push('TLS certificate and key')
    } catch (err) {
      failed.push(`TLS: ${(err as Error).message} (the certificate in use is kept)`)
    }
  }
  t.clearAeadCache()
  reloaded.push('AEAD cache cleared')
  if (failed.length > 0) t.logger.error({ reloaded, failed }, 'SIGHUP: reload partly failed')
  else t.logger.info({ reloaded }, 'SIGHUP: reloaded')
  return { reloaded, failed }
}
