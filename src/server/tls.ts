// HTTPS material, read and checked before anything else starts, so a bad file stops the process with
// one line that names the setting instead of failing on the first handshake.
import { readFileSync } from 'node:fs'
import { createSecureContext } from 'node:tls'
import { ConfigError, type Config } from '../config.js'

export interface TlsMaterial {
  cert: Buffer
  key: Buffer
}

function readPem (setting: string, file: string, marker: RegExp, what: string): Buffer {
  let pem: Buffer
  try {
    pem = readFileSync(file)
  } catch (err) {
    throw new ConfigError(setting, `cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`)
  }
  if (!marker.test(pem.toString('latin1'))) throw new ConfigError(setting, `${file} holds no PEM ${what}`)
  return pem
}

/** Reads YUBIVAL_TLS_CERT_FILE / YUBIVAL_TLS_KEY_FILE; null when HTTPS is not configured. */
export function loadTlsMaterial (config: Pick<Config, 'tlsCertFile' | 'tlsKeyFile'>): TlsMaterial | null {
  if (config.tlsCertFile === null || config.tlsKeyFile === null) return null
  const cert = readPem('YUBIVAL_TLS_CERT_FILE', config.tlsCertFile, /-----BEGIN CERTIFICATE-----/, 'certificate')
  const key = readPem('YUBIVAL_TLS_KEY_FILE', config.tlsKeyFile, /-----BEGIN [A-Z ]*PRIVATE KEY-----/, 'private key')
  try {
    createSecureContext({ cert })
  } catch (err) {
    throw new ConfigError('YUBIVAL_TLS_CERT_FILE', `${config.tlsCertFile}: ${err instanceof Error ? err.message : String(err)}`)
  }
  try {
    createSecureContext({ cert, key })
  } catch (err) {
    // Typically "key values mismatch" (key of another certificate) or an encrypted key: no message
    // of OpenSSL's contains key material.
    throw new ConfigError('YUBIVAL_TLS_KEY_FILE', `${config.tlsKeyFile} does not fit the certificate: ${err instanceof Error ? err.message : String(err)}`)
  }
  return { cert, key }
}
