// The one typed configuration module: every setting comes from the environment (YUBIVAL_*, DATABASE_URL)
// or a CLI flag override, and is validated here, at start, with an error that names the setting.
import path from 'node:path'

export class ConfigError extends Error {
  constructor (readonly setting: string, message: string) {
    super(`invalid configuration: ${setting}: ${message}`)
    this.name = 'ConfigError'
  }
}

export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent'
const LOG_LEVELS: LogLevel[] = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']

export interface Config {
  dataDir: string
  /** Path of the JSON keyfile; `keyfileIsDefault` says whether it was derived from dataDir. */
  keyfile: string
  keyfileIsDefault: boolean
  allowInsecureKeyfile: boolean
  aeadDir: string
  /** Key handles as typed (they name folders under aeadDir), tried in this order. */
  keyHandles: string[]
  aeadCacheSize: number
  /** PostgreSQL URL; null selects the embedded PGlite database in `pgliteDir`. */
  databaseUrl: string | null
  pgliteDir: string
  dbPoolSize: number
  /** Per-statement timeout for the verify path, milliseconds. */
  dbStatementTimeoutMs: number
  host: string
  port: number
  logLevel: LogLevel
  /** How long a client row may be served from cache; bounds how late a disable takes effect. */
  clientCacheMs: number
}

/** Overrides from CLI flags, same names as Config. Undefined means "not given". */
export type ConfigOverrides = Partial<Config>

/** Every environment variable this module reads; anything else named YUBIVAL_* is a typo. */
export const KNOWN_ENV = [
  'YUBIVAL_DATA_DIR',
  'YUBIVAL_KEYFILE',
  'YUBIVAL_ALLOW_INSECURE_KEYFILE',
  'YUBIVAL_AEAD_DIR',
  'YUBIVAL_KEY_HANDLES',
  'YUBIVAL_AEAD_CACHE_SIZE',
  'DATABASE_URL',
  'YUBIVAL_DB_POOL_SIZE',
  'YUBIVAL_DB_STATEMENT_TIMEOUT_MS',
  'YUBIVAL_HOST',
  'YUBIVAL_PORT',
  'YUBIVAL_LOG_LEVEL',
  'YUBIVAL_CLIENT_CACHE_MS'
] as const

/** Extra YUBIVAL_* names other modules (later features) register as known. */
const extraKnownEnv = new Set<string>()
export function registerKnownEnv (...names: string[]): void {
  for (const n of names) extraKnownEnv.add(n)
}

function intSetting (name: string, raw: string | undefined, def: number, min: number, max: number): number {
  if (raw === undefined || raw === '') return def
  if (!/^\d+$/.test(raw.trim())) throw new ConfigError(name, `expected a whole number, got ${JSON.stringify(raw)}`)
  const n = Number(raw.trim())
  if (n < min || n > max) throw new ConfigError(name, `must be between ${min} and ${max}, got ${n}`)
  return n
}

function boolSetting (name: string, raw: string | undefined, def: boolean): boolean {
  if (raw === undefined || raw === '') return def
  const v = raw.trim().toLowerCase()
  if (['1', 'true', 'yes', 'on'].includes(v)) return true
  if (['0', 'false', 'no', 'off'].includes(v)) return false
  throw new ConfigError(name, `expected true or false, got ${JSON.stringify(raw)}`)
}

/** Parses `1,2,KSM1` (env) into key handles as typed; validation of each handle is the KSM's job. */
export function parseKeyHandleList (name: string, raw: string): string[] {
  const list = raw.split(',').map((s) => s.trim()).filter((s) => s !== '')
  if (list.length === 0) throw new ConfigError(name, 'needs at least one key handle')
  return list
}

export function loadConfig (env: NodeJS.ProcessEnv = process.env, overrides: ConfigOverrides = {}): Config {
  for (const key of Object.keys(env)) {
    if (key.startsWith('YUBIVAL_') && !(KNOWN_ENV as readonly string[]).includes(key) && !extraKnownEnv.has(key)) {
      throw new ConfigError(key, 'unknown setting (typo?); see the README for the list of YUBIVAL_* variables')
    }
  }
  const dataDir = path.resolve(overrides.dataDir ?? env.YUBIVAL_DATA_DIR ?? './data')
  const explicitKeyfile = overrides.keyfile ?? (env.YUBIVAL_KEYFILE || undefined)
  const keyHandles = overrides.keyHandles ??
    (env.YUBIVAL_KEY_HANDLES ? parseKeyHandleList('YUBIVAL_KEY_HANDLES', env.YUBIVAL_KEY_HANDLES) : ['1'])
  const logLevel = (overrides.logLevel ?? env.YUBIVAL_LOG_LEVEL ?? 'info') as LogLevel
  if (!LOG_LEVELS.includes(logLevel)) {
    throw new ConfigError('YUBIVAL_LOG_LEVEL', `must be one of ${LOG_LEVELS.join(', ')}, got ${JSON.stringify(logLevel)}`)
  }
  const databaseUrl = overrides.databaseUrl !== undefined ? overrides.databaseUrl : (env.DATABASE_URL || null)
  if (databaseUrl !== null && !/^postgres(ql)?:\/\//.test(databaseUrl)) {
    throw new ConfigError('DATABASE_URL', 'must start with postgres:// or postgresql://')
  }
  const host = overrides.host ?? env.YUBIVAL_HOST ?? '127.0.0.1'
  if (host.trim() === '') throw new ConfigError('YUBIVAL_HOST', 'must not be empty')
  return {
    dataDir,
    keyfile: path.resolve(explicitKeyfile ?? path.join(dataDir, 'keys.json')),
    keyfileIsDefault: explicitKeyfile === undefined,
    allowInsecureKeyfile: overrides.allowInsecureKeyfile ??
      boolSetting('YUBIVAL_ALLOW_INSECURE_KEYFILE', env.YUBIVAL_ALLOW_INSECURE_KEYFILE, false),
    aeadDir: path.resolve(overrides.aeadDir ?? (env.YUBIVAL_AEAD_DIR || path.join(dataDir, 'aeads'))),
    keyHandles,
    aeadCacheSize: overrides.aeadCacheSize ??
      intSetting('YUBIVAL_AEAD_CACHE_SIZE', env.YUBIVAL_AEAD_CACHE_SIZE, 100_000, 0, 10_000_000),
    databaseUrl,
    pgliteDir: path.join(dataDir, 'pglite'),
    dbPoolSize: overrides.dbPoolSize ?? intSetting('YUBIVAL_DB_POOL_SIZE', env.YUBIVAL_DB_POOL_SIZE, 10, 1, 1000),
    dbStatementTimeoutMs: overrides.dbStatementTimeoutMs ??
      intSetting('YUBIVAL_DB_STATEMENT_TIMEOUT_MS', env.YUBIVAL_DB_STATEMENT_TIMEOUT_MS, 5000, 1, 600_000),
    host,
    port: overrides.port ?? intSetting('YUBIVAL_PORT', env.YUBIVAL_PORT, 8080, 0, 65535),
    logLevel,
    clientCacheMs: overrides.clientCacheMs ??
      intSetting('YUBIVAL_CLIENT_CACHE_MS', env.YUBIVAL_CLIENT_CACHE_MS, 500, 0, 1000)
  }
}
