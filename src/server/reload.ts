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

/** bin/yubival's marker for a SIGHUP that came while the modules were loading. */
export const EARLY_SIGHUP = Symbol.for('yubival.early-sighup')

export interface SighupControl {
  /** From now on a SIGHUP (and one that came before) runs `reload`. */
  ready: (reload: () => void) => void
  /** Runs the reload now if ready, else remembers it (the IPC path of a cluster worker). */
  reload: () => void
}

/**
 * Installs this process's SIGHUP handler next to bin/yubival's early one (which stays: removing the last
 * listener would close the signal handle and lose a signal caught but not yet dispatched). Until `ready`
 * is called a SIGHUP is only remembered: what it would reload (TLS files, AEAD cache) is read fresh at
 * start anyway, but one that came after those files were read is honoured once the server is up.
 */
export function takeOverSighup (): SighupControl {
  const g = globalThis as Record<symbol, unknown>
  let pending = false
  let run: (() => void) | null = null
  const reload = (): void => {
    if (run !== null) run()
    else pending = true
  }
  process.on('SIGHUP', reload)
  return {
    ready: (fn) => {
      run = fn
      if (pending || g[EARLY_SIGHUP] === true) {
        pending = false
        g[EARLY_SIGHUP] = false
        fn()
      }
    },
    reload
  }
}
