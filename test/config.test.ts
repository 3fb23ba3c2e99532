import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { ConfigError, KNOWN_ENV, loadConfig, parseTrustedProxies } from '../src/config.js'

const dir = mkdtempSync(path.join(tmpdir(), 'yubival-config-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

function configError (env: Record<string, string>): ConfigError {
  try {
    loadConfig(env)
  } catch (err) {
    if (err instanceof ConfigError) return err
    throw err
  }
  throw new Error(`no ConfigError for ${JSON.stringify(env)}`)
}

describe('operations settings', () => {
  it('has deliberate defaults', () => {
    const c = loadConfig({})
    expect(c).toMatchObject({
      adminHost: '127.0.0.1',
      adminPort: 9080,
      tlsCertFile: null,
      tlsKeyFile: null,
      trustedProxies: [],
      rateLimitWindowMs: 60_000,
      rateLimitPerIp: 600,
      rateLimitPerClient: 6000,
      rateLimitLoopback: false,
      shutdownGraceMs: 10_000,
      requestTimeoutMs: 10_000,
      keepAliveTimeoutMs: 5000,
      readyTimeoutMs: 2000
    })
  })

  it('reads every new variable', () => {
    const c = loadConfig({
      YUBIVAL_ADMIN_HOST: '::1',
      YUBIVAL_ADMIN_PORT: '0',
      YUBIVAL_TLS_CERT_FILE: 'c.pem',
      YUBIVAL_TLS_KEY_FILE: 'k.pem',
      YUBIVAL_TRUSTED_PROXIES: '10.0.0.1, 192.168.0.0/16,loopback,fd00::/8',
      YUBIVAL_RATE_LIMIT_WINDOW_MS: '1000',
      YUBIVAL_RATE_LIMIT_PER_IP: '0',
      YUBIVAL_RATE_LIMIT_PER_CLIENT: '7',
      YUBIVAL_RATE_LIMIT_LOOPBACK: 'true',
      YUBIVAL_SHUTDOWN_GRACE_MS: '1500',
      YUBIVAL_REQUEST_TIMEOUT_MS: '2000',
      YUBIVAL_KEEP_ALIVE_TIMEOUT_MS: '0',
      YUBIVAL_READY_TIMEOUT_MS: '300'
    })
    expect(c).toMatchObject({
      adminHost: '::1',
      adminPort: 0,
      tlsCertFile: path.resolve('c.pem'),
      tlsKeyFile: path.resolve('k.pem'),
      trustedProxies: ['10.0.0.1', '192.168.0.0/16', 'loopback', 'fd00::/8'],
      rateLimitWindowMs: 1000,
      rateLimitPerIp: 0,
      rateLimitPerClient: 7,
      rateLimitLoopback: true,
      shutdownGraceMs: 1500,
      requestTimeoutMs: 2000,
      keepAliveTimeoutMs: 0,
      readyTimeoutMs: 300
    })
    expect(KNOWN_ENV).toContain('YUBIVAL_SHUTDOWN_GRACE_MS')
  })

  it('names the setting in every error', () => {
    expect(configError({ YUBIVAL_ADMIN_PORT: '70000' }).setting).toBe('YUBIVAL_ADMIN_PORT')
    expect(configError({ YUBIVAL_RATE_LIMIT_PER_IP: 'many' }).setting).toBe('YUBIVAL_RATE_LIMIT_PER_IP')
    expect(configError({ YUBIVAL_RATE_LIMIT_LOOPBACK: 'maybe' }).setting).toBe('YUBIVAL_RATE_LIMIT_LOOPBACK')
    expect(configError({ YUBIVAL_TLS_CERT_FILE: 'c.pem' }).setting).toBe('YUBIVAL_TLS_KEY_FILE')
    expect(configError({ YUBIVAL_TLS_KEY_FILE: 'k.pem' }).setting).toBe('YUBIVAL_TLS_CERT_FILE')
    expect(configError({ YUBIVAL_RATE_LIMITS: '1' }).setting).toBe('YUBIVAL_RATE_LIMITS')
    expect(configError({ YUBIVAL_ADMIN_HOST: ' ' }).setting).toBe('YUBIVAL_ADMIN_HOST')
  })

  it('accepts only addresses, CIDR ranges and proxy-addr names as trusted proxies', () => {
    expect(parseTrustedProxies('X', '::1,127.0.0.0/8,linklocal,uniquelocal')).toHaveLength(4)
    for (const bad of ['*', 'proxy.example.org', '10.0.0.0/33', '10.0.0.1/8/1', 'fd00::/129', 'true']) {
      expect(() => parseTrustedProxies('YUBIVAL_TRUSTED_PROXIES', bad)).toThrow(/YUBIVAL_TRUSTED_PROXIES/)
    }
  })
})

describe('secrets from files (<NAME>_FILE)', () => {
  it('reads DATABASE_URL_FILE, dropping the trailing newline secrets files usually have', () => {
    const file = path.join(dir, 'db-url')
    writeFileSync(file, 'postgres://yubival:s3cret@db:5432/yubival\n')
    expect(loadConfig({ DATABASE_URL_FILE: file }).databaseUrl).toBe('postgres://yubival:s3cret@db:5432/yubival')
  })

  it('refuses both the variable and its file, a missing file and an empty one', () => {
    const file = path.join(dir, 'db-url2')
    writeFileSync(file, 'postgres://a@b/c')
    const both = configError({ DATABASE_URL: 'postgres://x@y/z', DATABASE_URL_FILE: file })
    expect(both.setting).toBe('DATABASE_URL_FILE')
    expect(both.message).toContain('set only one')
    const missing = configError({ DATABASE_URL_FILE: path.join(dir, 'nope') })
    expect(missing.message).toMatch(/DATABASE_URL_FILE: cannot read .*nope: ENOENT/)
    const empty = path.join(dir, 'empty')
    writeFileSync(empty, '\n')
    expect(configError({ DATABASE_URL_FILE: empty }).message).toContain('is empty')
  })

  it('validates the value read from the file like the variable, without echoing it', () => {
    const file = path.join(dir, 'db-url3')
    writeFileSync(file, 'mysql://root:hunter2@db/x')
    const err = configError({ DATABASE_URL_FILE: file })
    expect(err.setting).toBe('DATABASE_URL')
    expect(err.message).not.toContain('hunter2')
  })

  it('lets a --database-url flag win over the file', () => {
    const file = path.join(dir, 'db-url4')
    writeFileSync(file, 'postgres://from@file/db')
    expect(loadConfig({ DATABASE_URL_FILE: file }, { databaseUrl: 'postgres://from@flag/db' }).databaseUrl).toBe('postgres://from@flag/db')
  })
})
