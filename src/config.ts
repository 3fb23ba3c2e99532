// The one typed configuration module: every setting comes from the environment (YUBIVAL_*, DATABASE_URL)
// or a CLI flag override, and is validated here, at start, with an error that names the setting.
import { readFileSync } from 'node:fs'
import net from 'node:net'
import os from 'node:os'
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
  /** Admin listener (/metrics, /healthz, /readyz); port 0 = no admin listener. */
  adminHost: string
  adminPort: number
  /** PEM files; both set = HTTPS, neither = plain HTTP. */
  tlsCertFile: string | null
  tlsKeyFile: string | null
  /** Peers whose X-Forwarded-For is believed (IPs, CIDRs, or loopback/linklocal/uniquelocal). */
  trustedProxies: string[]
  rateLimitWindowMs: number
  /** Verify requests per window per source address / per client id; 0 = no limit. */
  rateLimitPerIp: number
  rateLimitPerClient: number
  /** Whether requests from loopback addresses are limited too. */
  rateLimitLoopback: boolean
  /** How long SIGTERM waits for in-flight requests before giving up (exit 1). */
  shutdownGraceMs: number
  /** `yubival serve` processes sharing the port (node:cluster); 1 = no cluster. PostgreSQL only. */
  workers: number
  /** Whole-request deadline; headers must arrive within min(this, 5 s). */
  requestTimeoutMs: number
  keepAliveTimeoutMs: number
  /** Longest /readyz waits for the database before answering 503. */
  readyTimeoutMs: number
  /** Where the KSM reads AEADs: the folder tree (aeadDir) or the aead_table of the database. */
  aeadStore: AeadStoreKind
  /** Serve GET /wsapi/decrypt?otp= (pyhsm's yhsm-yubikey-ksm protocol) for an old VAL. */
  ksmEndpoint: boolean
  /** Peers allowed to use /wsapi/decrypt (exact IP addresses). */
  ksmAllowedIps: string[]
  /** Remote KSM URL prefixes (the OTP is appended); non-empty = no in-process KSM. */
  ksmUrls: string[]
  /** How long to wait for the remote KSMs, milliseconds. */
  ksmTimeoutMs: number
  /** yubikey-val sync pool: the peers' sync URLs (e.g. https://val2.example.com/wsapi/2.0/sync). */
  syncPool: string[]
  /** Peers allowed to call /wsapi/2.0/sync (exact IP addresses); empty = every caller is refused. */
  syncAllowedIps: string[]
  /** Shared key (base64) signing sync requests between yubival nodes; null = IP allow-list only. */
  syncKey: string | null
  /** With a sync key: allowed peers that may still send unsigned requests (yubikey-val nodes). */
  syncUnsignedIps: string[]
  /** With a sync key: pool URLs (yubikey-val nodes) whose answers are not signed with it. */
  syncUnsignedPeers: string[]
  /** Addresses allowed to call /wsapi/2.0/resync (default: YUBIVAL_SYNC_ALLOWED_IPS). */
  resyncIps: string[]
  /** How long a verify waits for its peers when the request has no `timeout`, milliseconds. */
  syncTimeoutMs: number
  /** Upper bound for a request's `timeout` (yubikey-val's timeout=0 means "no limit"), milliseconds. */
  syncMaxTimeoutMs: number
  /** How often the background worker sends queued messages, milliseconds. */
  syncIntervalMs: number
  /** Deadline of one background sync request, milliseconds. */
  syncRequestTimeoutMs: number
  /** Background requests in flight per peer. */
  syncParallel: number
  /** Most queued messages kept; beyond it the oldest are dropped (counted in metrics, logged). */
  syncQueueLimit: number
}

export const AEAD_STORES = ['files', 'database'] as const
export type AeadStoreKind = (typeof AEAD_STORES)[number]

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
  'YUBIVAL_CLIENT_CACHE_MS',
  'YUBIVAL_ADMIN_HOST',
  'YUBIVAL_ADMIN_PORT',
  'YUBIVAL_TLS_CERT_FILE',
  'YUBIVAL_TLS_KEY_FILE',
  'YUBIVAL_TRUSTED_PROXIES',
  'YUBIVAL_RATE_LIMIT_WINDOW_MS',
  'YUBIVAL_RATE_LIMIT_PER_IP',
  'YUBIVAL_RATE_LIMIT_PER_CLIENT',
  'YUBIVAL_RATE_LIMIT_LOOPBACK',
  'YUBIVAL_SHUTDOWN_GRACE_MS',
  'YUBIVAL_WORKERS',
  'YUBIVAL_REQUEST_TIMEOUT_MS',
  'YUBIVAL_KEEP_ALIVE_TIMEOUT_MS',
  'YUBIVAL_READY_TIMEOUT_MS',
  'YUBIVAL_AEAD_STORE',
  'YUBIVAL_KSM_ENDPOINT',
  'YUBIVAL_KSM_ALLOWED_IPS',
  'YUBIVAL_KSM_URLS',
  'YUBIVAL_KSM_TIMEOUT_MS',
  'YUBIVAL_SYNC_POOL',
  'YUBIVAL_SYNC_ALLOWED_IPS',
  'YUBIVAL_SYNC_KEY',
  'YUBIVAL_SYNC_KEY_FILE',
  'YUBIVAL_SYNC_UNSIGNED_IPS',
  'YUBIVAL_SYNC_UNSIGNED_PEERS',
  'YUBIVAL_RESYNC_IPS',
  'YUBIVAL_SYNC_TIMEOUT_MS',
  'YUBIVAL_SYNC_MAX_TIMEOUT_MS',
  'YUBIVAL_SYNC_INTERVAL_MS',
  'YUBIVAL_SYNC_REQUEST_TIMEOUT_MS',
  'YUBIVAL_SYNC_PARALLEL',
  'YUBIVAL_SYNC_QUEUE_LIMIT'
] as const

/**
 * Secret settings that may instead be read from a file named by `<NAME>_FILE` (Docker and Kubernetes
 * secrets), so the secret never sits in the environment of every process or in `docker inspect`.
 */
export const FILE_SETTINGS = ['DATABASE_URL', 'YUBIVAL_SYNC_KEY'] as const

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

/** YUBIVAL_WORKERS: a number of server processes, or `auto` for one per CPU the process may use. */
export function parseWorkers (name: string, raw: string | undefined): number {
  if (raw !== undefined && raw.trim().toLowerCase() === 'auto') return Math.max(1, os.availableParallelism())
  if (raw !== undefined && raw.trim() !== '' && !/^\d+$/.test(raw.trim())) {
    throw new ConfigError(name, `expected a number of processes or auto, got ${JSON.stringify(raw)}`)
  }
  return intSetting(name, raw, 1, 1, 256)
}

/** Parses `1,2,KSM1` (env) into key handles as typed; validation of each handle is the KSM's job. */
export function parseKeyHandleList (name: string, raw: string): string[] {
  const list = raw.split(',').map((s) => s.trim()).filter((s) => s !== '')
  if (list.length === 0) throw new ConfigError(name, 'needs at least one key handle')
  return list
}

/** Proxy names proxy-addr (Fastify's trustProxy) understands besides addresses and CIDRs. */
const PROXY_NAMES = ['loopback', 'linklocal', 'uniquelocal']

export function parseTrustedProxies (name: string, raw: string | undefined): string[] {
  if (raw === undefined) return []
  const list = raw.split(',').map((s) => s.trim()).filter((s) => s !== '')
  for (const item of list) {
    const [addr, bits, extra] = item.split('/')
    const family = net.isIP(addr ?? '')
    const bitsOk = bits === undefined || (/^\d+$/.test(bits) && Number(bits) <= (family === 6 ? 128 : 32))
    if (!PROXY_NAMES.includes(item) && (family === 0 || !bitsOk || extra !== undefined)) {
      throw new ConfigError(name, `${JSON.stringify(item)} is not an IP address, a CIDR range or one of ${PROXY_NAMES.join(', ')}`)
    }
  }
  return list
}

/** The environment with every `<NAME>_FILE` of FILE_SETTINGS read into `<NAME>` (one trailing newline dropped). */
export function resolveFileSettings (env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  let out = env
  for (const name of FILE_SETTINGS) {
    const fileName = `${name}_FILE`
    const file = env[fileName]
    if (file === undefined || file === '') continue
    if (env[name] !== undefined && env[name] !== '') {
      throw new ConfigError(fileName, `both ${name} and ${fileName} are set; set only one`)
    }
    let value: string
    try {
      value = readFileSync(file, 'utf8')
    } catch (err) {
      throw new ConfigError(fileName, `cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`)
    }
    value = value.replace(/\r?\n$/, '')
    if (value === '') throw new ConfigError(fileName, `${file} is empty`)
    out = { ...out, [name]: value }
  }
  return out
}

function aeadStoreSetting (raw: string | undefined): AeadStoreKind {
  const v = (raw ?? '').trim()
  if (v === '') return 'files'
  if (!(AEAD_STORES as readonly string[]).includes(v)) {
    throw new ConfigError('YUBIVAL_AEAD_STORE', `must be one of ${AEAD_STORES.join(', ')}, got ${JSON.stringify(raw)}`)
  }
  return v as AeadStoreKind
}

/** Exact IP addresses (no ranges: the allow-list of a KSM is a handful of VAL hosts). */
export function parseIpList (name: string, raw: string | undefined, def: string[]): string[] {
  if (raw === undefined || raw.trim() === '') return def
  const list = raw.split(',').map((s) => s.trim()).filter((s) => s !== '')
  for (const ip of list) {
    if (net.isIP(ip) === 0) throw new ConfigError(name, `${JSON.stringify(ip)} is not an IP address`)
  }
  return list
}

/** URL prefixes the OTP is appended to, like yubikey-val's otp2ksmurls. */
export function parseKsmUrls (name: string, raw: string | undefined): string[] {
  if (raw === undefined || raw.trim() === '') return []
  const list = raw.split(',').map((s) => s.trim()).filter((s) => s !== '')
  for (const u of list) {
    let parsed: URL
    try {
      parsed = new URL(u)
    } catch {
      throw new ConfigError(name, `${JSON.stringify(u)} is not a URL`)
    }
    if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
      throw new ConfigError(name, `${JSON.stringify(u)} must start with http:// or https://`)
    }
  }
  return list
}

/** Peer sync URLs: yubikey-val appends `?otp=…` and stores them in a VARCHAR(100). */
export function parseSyncPool (name: string, raw: string | undefined): string[] {
  const list = parseKsmUrls(name, raw)
  for (const u of list) {
    const parsed = new URL(u)
    if (parsed.search !== '' || parsed.hash !== '' || u.includes('?') || u.includes('#')) {
      throw new ConfigError(name, `${JSON.stringify(u)} must not have a query string or fragment (the sync parameters are appended)`)
    }
    if (parsed.username !== '' || parsed.password !== '') {
      throw new ConfigError(name, 'a peer URL must not carry user:password@ (it would be stored in the queue and shown by `sync status`); use YUBIVAL_SYNC_KEY and https')
    }
    if (u.length > 100) throw new ConfigError(name, `${JSON.stringify(u)} is longer than 100 characters`)
  }
  if (new Set(list).size !== list.length) throw new ConfigError(name, 'lists the same URL twice')
  return list
}

/** A shared HMAC key in base64 (like a WSAPI client secret): at least 16 bytes, strict alphabet. */
export function parseSyncKey (name: string, raw: string | undefined): string | null {
  if (raw === undefined || raw.trim() === '') return null
  const v = raw.trim()
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(v) || v.length % 4 !== 0) throw new ConfigError(name, 'is not base64 (A-Z a-z 0-9 + / and = padding)')
  if (Buffer.from(v, 'base64').length < 16) throw new ConfigError(name, 'is shorter than 16 bytes; use e.g. `openssl rand -base64 32`')
  return v
}

function optionalPath (raw: string | undefined): string | null {
  return raw === undefined || raw.trim() === '' ? null : path.resolve(raw)
}

export function loadConfig (rawEnv: NodeJS.ProcessEnv = process.env, overrides: ConfigOverrides = {}): Config {
  const env = resolveFileSettings(rawEnv)
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
  const adminHost = overrides.adminHost ?? env.YUBIVAL_ADMIN_HOST ?? '127.0.0.1'
  if (adminHost.trim() === '') throw new ConfigError('YUBIVAL_ADMIN_HOST', 'must not be empty')
  const tlsCertFile = overrides.tlsCertFile !== undefined ? overrides.tlsCertFile : optionalPath(env.YUBIVAL_TLS_CERT_FILE)
  const tlsKeyFile = overrides.tlsKeyFile !== undefined ? overrides.tlsKeyFile : optionalPath(env.YUBIVAL_TLS_KEY_FILE)
  if ((tlsCertFile === null) !== (tlsKeyFile === null)) {
    const missing = tlsCertFile === null ? 'YUBIVAL_TLS_CERT_FILE' : 'YUBIVAL_TLS_KEY_FILE'
    throw new ConfigError(missing, 'HTTPS needs both YUBIVAL_TLS_CERT_FILE and YUBIVAL_TLS_KEY_FILE; only the other one is set')
  }
  const requestTimeoutMs = overrides.requestTimeoutMs ??
    intSetting('YUBIVAL_REQUEST_TIMEOUT_MS', env.YUBIVAL_REQUEST_TIMEOUT_MS, 10_000, 100, 600_000)
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
      intSetting('YUBIVAL_CLIENT_CACHE_MS', env.YUBIVAL_CLIENT_CACHE_MS, 500, 0, 1000),
    adminHost,
    adminPort: overrides.adminPort ?? intSetting('YUBIVAL_ADMIN_PORT', env.YUBIVAL_ADMIN_PORT, 9080, 0, 65535),
    tlsCertFile,
    tlsKeyFile,
    trustedProxies: overrides.trustedProxies ?? parseTrustedProxies('YUBIVAL_TRUSTED_PROXIES', env.YUBIVAL_TRUSTED_PROXIES),
    rateLimitWindowMs: overrides.rateLimitWindowMs ??
      intSetting('YUBIVAL_RATE_LIMIT_WINDOW_MS', env.YUBIVAL_RATE_LIMIT_WINDOW_MS, 60_000, 1000, 86_400_000),
    rateLimitPerIp: overrides.rateLimitPerIp ??
      intSetting('YUBIVAL_RATE_LIMIT_PER_IP', env.YUBIVAL_RATE_LIMIT_PER_IP, 600, 0, 100_000_000),
    rateLimitPerClient: overrides.rateLimitPerClient ??
      intSetting('YUBIVAL_RATE_LIMIT_PER_CLIENT', env.YUBIVAL_RATE_LIMIT_PER_CLIENT, 6000, 0, 100_000_000),
    rateLimitLoopback: overrides.rateLimitLoopback ??
      boolSetting('YUBIVAL_RATE_LIMIT_LOOPBACK', env.YUBIVAL_RATE_LIMIT_LOOPBACK, false),
    shutdownGraceMs: overrides.shutdownGraceMs ??
      intSetting('YUBIVAL_SHUTDOWN_GRACE_MS', env.YUBIVAL_SHUTDOWN_GRACE_MS, 10_000, 0, 600_000),
    workers: overrides.workers ?? parseWorkers('YUBIVAL_WORKERS', env.YUBIVAL_WORKERS),
    requestTimeoutMs,
    keepAliveTimeoutMs: overrides.keepAliveTimeoutMs ??
      intSetting('YUBIVAL_KEEP_ALIVE_TIMEOUT_MS', env.YUBIVAL_KEEP_ALIVE_TIMEOUT_MS, 5000, 0, 600_000),
    readyTimeoutMs: overrides.readyTimeoutMs ??
      intSetting('YUBIVAL_READY_TIMEOUT_MS', env.YUBIVAL_READY_TIMEOUT_MS, 2000, 100, 60_000),
    aeadStore: overrides.aeadStore ?? aeadStoreSetting(env.YUBIVAL_AEAD_STORE),
    ksmEndpoint: overrides.ksmEndpoint ?? boolSetting('YUBIVAL_KSM_ENDPOINT', env.YUBIVAL_KSM_ENDPOINT, false),
    ksmAllowedIps: overrides.ksmAllowedIps ?? parseIpList('YUBIVAL_KSM_ALLOWED_IPS', env.YUBIVAL_KSM_ALLOWED_IPS, ['127.0.0.1', '::1']),
    ksmUrls: overrides.ksmUrls ?? parseKsmUrls('YUBIVAL_KSM_URLS', env.YUBIVAL_KSM_URLS),
    ksmTimeoutMs: overrides.ksmTimeoutMs ?? intSetting('YUBIVAL_KSM_TIMEOUT_MS', env.YUBIVAL_KSM_TIMEOUT_MS, 3000, 1, 600_000),
    ...syncSettings(env, overrides, requestTimeoutMs)
  }
}

type SyncSettings = Pick<Config, 'syncPool' | 'syncAllowedIps' | 'syncKey' | 'syncUnsignedIps' | 'syncUnsignedPeers' | 'resyncIps' | 'syncTimeoutMs' |
'syncMaxTimeoutMs' | 'syncIntervalMs' | 'syncRequestTimeoutMs' | 'syncParallel' | 'syncQueueLimit'>

function syncSettings (env: NodeJS.ProcessEnv, o: ConfigOverrides, requestTimeoutMs: number): SyncSettings {
  const syncAllowedIps = o.syncAllowedIps ?? parseIpList('YUBIVAL_SYNC_ALLOWED_IPS', env.YUBIVAL_SYNC_ALLOWED_IPS, [])
  const syncUnsignedIps = o.syncUnsignedIps ?? parseIpList('YUBIVAL_SYNC_UNSIGNED_IPS', env.YUBIVAL_SYNC_UNSIGNED_IPS, [])
  const syncKey = o.syncKey !== undefined ? o.syncKey : parseSyncKey('YUBIVAL_SYNC_KEY', env.YUBIVAL_SYNC_KEY)
  if (syncUnsignedIps.length > 0 && syncKey === null) {
    throw new ConfigError('YUBIVAL_SYNC_UNSIGNED_IPS', 'only means something with YUBIVAL_SYNC_KEY (without a key no request is signed)')
  }
  const notAllowed = syncUnsignedIps.filter((ip) => !syncAllowedIps.includes(ip))
  if (notAllowed.length > 0) {
    throw new ConfigError('YUBIVAL_SYNC_UNSIGNED_IPS', `${notAllowed.join(', ')} must also be in YUBIVAL_SYNC_ALLOWED_IPS`)
  }
  const syncTimeoutMs = o.syncTimeoutMs ?? intSetting('YUBIVAL_SYNC_TIMEOUT_MS', env.YUBIVAL_SYNC_TIMEOUT_MS, 1000, 1, 600_000)
  const syncMaxTimeoutMs = o.syncMaxTimeoutMs ?? intSetting('YUBIVAL_SYNC_MAX_TIMEOUT_MS', env.YUBIVAL_SYNC_MAX_TIMEOUT_MS, 5000, 1, 600_000)
  const syncPool = o.syncPool ?? parseSyncPool('YUBIVAL_SYNC_POOL', env.YUBIVAL_SYNC_POOL)
  // a verify that waits for its peers must still answer before the request deadline cuts it off
  if (syncPool.length > 0 && syncMaxTimeoutMs + 1000 > requestTimeoutMs) {
    throw new ConfigError('YUBIVAL_SYNC_MAX_TIMEOUT_MS', `${syncMaxTimeoutMs} must be at least 1000 below YUBIVAL_REQUEST_TIMEOUT_MS (${requestTimeoutMs})`)
  }
  if (syncTimeoutMs > syncMaxTimeoutMs) {
    throw new ConfigError('YUBIVAL_SYNC_TIMEOUT_MS', `${syncTimeoutMs} is above YUBIVAL_SYNC_MAX_TIMEOUT_MS (${syncMaxTimeoutMs})`)
  }
  const syncUnsignedPeers = o.syncUnsignedPeers ?? parseKsmUrls('YUBIVAL_SYNC_UNSIGNED_PEERS', env.YUBIVAL_SYNC_UNSIGNED_PEERS)
  if (syncUnsignedPeers.length > 0 && syncKey === null) {
    throw new ConfigError('YUBIVAL_SYNC_UNSIGNED_PEERS', 'only means something with YUBIVAL_SYNC_KEY (without a key no answer is checked)')
  }
  const notInPool = syncUnsignedPeers.filter((u) => !syncPool.includes(u))
  if (notInPool.length > 0) throw new ConfigError('YUBIVAL_SYNC_UNSIGNED_PEERS', `${notInPool.join(', ')} must also be in YUBIVAL_SYNC_POOL`)
  return {
    syncPool,
    syncUnsignedPeers,
    syncAllowedIps,
    syncKey,
    syncUnsignedIps,
    resyncIps: o.resyncIps ?? parseIpList('YUBIVAL_RESYNC_IPS', env.YUBIVAL_RESYNC_IPS, syncAllowedIps),
    syncTimeoutMs,
    syncMaxTimeoutMs,
    syncIntervalMs: o.syncIntervalMs ?? intSetting('YUBIVAL_SYNC_INTERVAL_MS', env.YUBIVAL_SYNC_INTERVAL_MS, 1000, 10, 3_600_000),
    syncRequestTimeoutMs: o.syncRequestTimeoutMs ??
      intSetting('YUBIVAL_SYNC_REQUEST_TIMEOUT_MS', env.YUBIVAL_SYNC_REQUEST_TIMEOUT_MS, 10_000, 1, 600_000),
    syncParallel: o.syncParallel ?? intSetting('YUBIVAL_SYNC_PARALLEL', env.YUBIVAL_SYNC_PARALLEL, 4, 1, 64),
    syncQueueLimit: o.syncQueueLimit ?? intSetting('YUBIVAL_SYNC_QUEUE_LIMIT', env.YUBIVAL_SYNC_QUEUE_LIMIT, 1_000_000, 1, 1_000_000_000)
  }
}
