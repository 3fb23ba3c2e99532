// The sync pool settings (YUBIVAL_SYNC_*), and that every setting yubival reads is in the README.
import { readFileSync, writeFileSync, mkdtempSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { describe, expect, it } from 'vitest'
import { ConfigError, KNOWN_ENV, loadConfig } from '../src/config.js'

const KEY = 'c3luYyBrZXkgZm9yIHRlc3RzIG9ubHkhISE='

function refusal (env: Record<string, string>): ConfigError {
  try {
    loadConfig(env)
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError)
    return e as ConfigError
  }
  throw new Error(`accepted ${JSON.stringify(env)}`)
}

describe('sync pool settings', () => {
  it('defaults: no pool, nobody allowed, unsigned, yubikey-val\'s 1 s timeout, 5 s cap, 1 s interval', () => {
    const c = loadConfig({})
    expect([c.syncPool, c.syncAllowedIps, c.syncKey, c.syncUnsignedIps, c.syncTimeoutMs, c.syncMaxTimeoutMs, c.syncIntervalMs,
      c.syncRequestTimeoutMs, c.syncParallel, c.syncQueueLimit, c.syncUnsignedPeers, c.resyncIps]).toEqual([[], [], null, [], 1000, 5000, 1000, 10_000, 4, 1_000_000, [], []])
  })

  it('reads every setting, the key also from a file', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'yubival-sync-key-'))
    writeFileSync(path.join(dir, 'key'), `${KEY}\n`)
    const c = loadConfig({
      YUBIVAL_SYNC_POOL: 'https://val2.example.com/wsapi/2.0/sync, http://10.0.0.3:8080/wsapi/2.0/sync',
      YUBIVAL_SYNC_ALLOWED_IPS: '10.0.0.2,10.0.0.3',
      YUBIVAL_SYNC_KEY_FILE: path.join(dir, 'key'),
      YUBIVAL_SYNC_UNSIGNED_IPS: '10.0.0.3',
      YUBIVAL_SYNC_UNSIGNED_PEERS: 'http://10.0.0.3:8080/wsapi/2.0/sync',
      YUBIVAL_RESYNC_IPS: '10.0.0.9',
      YUBIVAL_SYNC_TIMEOUT_MS: '2000',
      YUBIVAL_SYNC_MAX_TIMEOUT_MS: '5000',
      YUBIVAL_SYNC_INTERVAL_MS: '500',
      YUBIVAL_SYNC_REQUEST_TIMEOUT_MS: '3000',
      YUBIVAL_SYNC_PARALLEL: '8',
      YUBIVAL_SYNC_QUEUE_LIMIT: '5000'
    })
    expect(c).toMatchObject({
      syncPool: ['https://val2.example.com/wsapi/2.0/sync', 'http://10.0.0.3:8080/wsapi/2.0/sync'],
      syncAllowedIps: ['10.0.0.2', '10.0.0.3'],
      syncKey: KEY,
      syncUnsignedIps: ['10.0.0.3'],
      syncUnsignedPeers: ['http://10.0.0.3:8080/wsapi/2.0/sync'],
      resyncIps: ['10.0.0.9'],
      syncTimeoutMs: 2000,
      syncMaxTimeoutMs: 5000,
      syncIntervalMs: 500,
      syncRequestTimeoutMs: 3000,
      syncParallel: 8,
      syncQueueLimit: 5000
    })
  })

  it.each([
    [{ YUBIVAL_SYNC_POOL: 'val2/wsapi/2.0/sync' }, 'YUBIVAL_SYNC_POOL', /is not a URL/],
    [{ YUBIVAL_SYNC_POOL: 'ftp://val2/wsapi/2.0/sync' }, 'YUBIVAL_SYNC_POOL', /must start with http:\/\/ or https:\/\//],
    [{ YUBIVAL_SYNC_POOL: 'http://val2/wsapi/2.0/sync?x=1' }, 'YUBIVAL_SYNC_POOL', /must not have a query string/],
    [{ YUBIVAL_SYNC_POOL: `http://${'v'.repeat(90)}/wsapi/2.0/sync` }, 'YUBIVAL_SYNC_POOL', /longer than 100 characters/],
    [{ YUBIVAL_SYNC_POOL: 'http://a/s,http://a/s' }, 'YUBIVAL_SYNC_POOL', /the same URL twice/],
    [{ YUBIVAL_SYNC_ALLOWED_IPS: '10.0.0.0/8' }, 'YUBIVAL_SYNC_ALLOWED_IPS', /is not an IP address/],
    [{ YUBIVAL_SYNC_KEY: 'not base64!' }, 'YUBIVAL_SYNC_KEY', /is not base64/],
    [{ YUBIVAL_SYNC_KEY: 'c2hvcnQ=' }, 'YUBIVAL_SYNC_KEY', /shorter than 16 bytes/],
    [{ YUBIVAL_SYNC_UNSIGNED_IPS: '10.0.0.3', YUBIVAL_SYNC_ALLOWED_IPS: '10.0.0.3' }, 'YUBIVAL_SYNC_UNSIGNED_IPS', /only means something with YUBIVAL_SYNC_KEY/],
    [{ YUBIVAL_SYNC_UNSIGNED_IPS: '10.0.0.3', YUBIVAL_SYNC_KEY: KEY }, 'YUBIVAL_SYNC_UNSIGNED_IPS', /must also be in YUBIVAL_SYNC_ALLOWED_IPS/],
    [{ YUBIVAL_SYNC_TIMEOUT_MS: '6000' }, 'YUBIVAL_SYNC_TIMEOUT_MS', /above YUBIVAL_SYNC_MAX_TIMEOUT_MS/],
    [{ YUBIVAL_SYNC_POOL: 'http://a/s', YUBIVAL_SYNC_MAX_TIMEOUT_MS: '9500' }, 'YUBIVAL_SYNC_MAX_TIMEOUT_MS', /at least 1000 below YUBIVAL_REQUEST_TIMEOUT_MS \(10000\)/],
    [{ YUBIVAL_SYNC_POOL: 'https://user:secret@val2/wsapi/2.0/sync' }, 'YUBIVAL_SYNC_POOL', /must not carry user:password@/],
    [{ YUBIVAL_SYNC_POOL: 'http://a/s', YUBIVAL_SYNC_UNSIGNED_PEERS: 'http://a/s' }, 'YUBIVAL_SYNC_UNSIGNED_PEERS', /only means something with YUBIVAL_SYNC_KEY/],
    [{ YUBIVAL_SYNC_POOL: 'http://a/s', YUBIVAL_SYNC_KEY: KEY, YUBIVAL_SYNC_UNSIGNED_PEERS: 'http://b/s' }, 'YUBIVAL_SYNC_UNSIGNED_PEERS', /must also be in YUBIVAL_SYNC_POOL/],
    [{ YUBIVAL_SYNC_PARALLEL: '0' }, 'YUBIVAL_SYNC_PARALLEL', /between 1 and 64/],
    [{ YUBIVAL_SYNC_KEY: KEY, YUBIVAL_SYNC_KEY_FILE: '/nonexistent' }, 'YUBIVAL_SYNC_KEY_FILE', /set only one/]
  ])('%j is refused naming %s', (env, setting, message) => {
    const err = refusal(env as Record<string, string>)
    expect(err.setting).toBe(setting)
    expect(err.message).toMatch(message)
    // never the key itself
    expect(err.message).not.toContain(KEY)
    expect(err.message).not.toContain('secret')
  })
})

describe('the README', () => {
  it('documents every environment variable yubival reads', () => {
    const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8')
    expect(KNOWN_ENV.filter((name) => !readme.includes(name))).toEqual([])
  })
})
