// Configuration errors stop `yubival serve` before it listens: exit code 2 and one line on stderr that
// names the setting (no stack trace, no secret).
import { mkdtempSync, rmSync, writeFileSync, chmodSync } from 'node:fs'
import net from 'node:net'
import { once } from 'node:events'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { randomBytes } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { runCli } from '../helpers/cli.js'
import { createTestDatabase, type TestDatabase } from '../helpers/database.js'
import { makeTestCa, type TestCa } from '../helpers/test-ca.js'

let dir: string
let ca: TestCa
let env: Record<string, string>

beforeAll(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'yubival-config-errors-'))
  ca = makeTestCa(dir)
  const keyfile = path.join(dir, 'keys.json')
  writeFileSync(keyfile, JSON.stringify({ 1: randomBytes(32).toString('hex') }))
  chmodSync(keyfile, 0o400)
  env = {
    YUBIVAL_DATA_DIR: path.join(dir, 'data'),
    YUBIVAL_KEYFILE: keyfile,
    YUBIVAL_AEAD_DIR: dir,
    YUBIVAL_HOST: '127.0.0.1',
    YUBIVAL_PORT: '0',
    YUBIVAL_ADMIN_PORT: '0'
  }
})
afterAll(() => rmSync(dir, { recursive: true, force: true }))

function serveFails (extra: Record<string, string>): string {
  const r = runCli(['serve'], { env: { ...env, ...extra } })
  const lines = r.stderr.trim().split('\n')
  expect(r.status, r.stderr).toBe(2)
  expect(lines, r.stderr).toHaveLength(1)
  expect(r.stderr).not.toMatch(/\n\s+at /)
  return lines[0]!
}

describe('yubival serve refuses a bad configuration with exit code 2 and one line', () => {
  it('an unknown YUBIVAL_* variable (typo)', () => {
    expect(serveFails({ YUBIVAL_RATE_LIMT_PER_IP: '5' })).toMatch(/^yubival: invalid configuration: YUBIVAL_RATE_LIMT_PER_IP: unknown setting/)
  })

  it('an invalid value', () => {
    expect(serveFails({ YUBIVAL_SHUTDOWN_GRACE_MS: 'soon' })).toContain('YUBIVAL_SHUTDOWN_GRACE_MS: expected a whole number')
    expect(serveFails({ YUBIVAL_TRUSTED_PROXIES: 'proxy.local' })).toContain('YUBIVAL_TRUSTED_PROXIES: "proxy.local" is not an IP address')
  })

  it('a missing, a non-PEM and a mismatched TLS file, each naming its setting', () => {
    expect(serveFails({ YUBIVAL_TLS_CERT_FILE: path.join(dir, 'nope.pem'), YUBIVAL_TLS_KEY_FILE: ca.serverKey }))
      .toMatch(/YUBIVAL_TLS_CERT_FILE: cannot read .*nope\.pem: ENOENT/)
    expect(serveFails({ YUBIVAL_TLS_CERT_FILE: ca.serverKey, YUBIVAL_TLS_KEY_FILE: ca.serverKey }))
      .toContain('YUBIVAL_TLS_CERT_FILE')
    const line = serveFails({ YUBIVAL_TLS_CERT_FILE: ca.serverCert, YUBIVAL_TLS_KEY_FILE: ca.otherKey })
    expect(line).toMatch(/YUBIVAL_TLS_KEY_FILE: .*other\.key does not fit the certificate/)
    expect(serveFails({ YUBIVAL_TLS_CERT_FILE: ca.serverCert })).toContain('YUBIVAL_TLS_KEY_FILE')
  })

  it('a missing or unreadable keyfile', () => {
    expect(serveFails({ YUBIVAL_KEYFILE: path.join(dir, 'absent.json') })).toMatch(/keyfile .*absent\.json does not exist; it is set by YUBIVAL_KEYFILE/)
    const broken = path.join(dir, 'broken.json')
    writeFileSync(broken, '{"1": ', { mode: 0o400 })
    expect(serveFails({ YUBIVAL_KEYFILE: broken })).toContain('broken.json')
  })

  it('DATABASE_URL_FILE that cannot be read, or set together with DATABASE_URL', () => {
    expect(serveFails({ DATABASE_URL_FILE: path.join(dir, 'db-secret') })).toMatch(/DATABASE_URL_FILE: cannot read .*db-secret: ENOENT/)
    const file = path.join(dir, 'db-url')
    writeFileSync(file, 'postgres://u:topsecret@h/d\n')
    const line = serveFails({ DATABASE_URL: 'postgres://u@h/d', DATABASE_URL_FILE: file })
    expect(line).toContain('DATABASE_URL_FILE: both DATABASE_URL and DATABASE_URL_FILE are set')
    expect(line).not.toContain('topsecret')
  })

  describe('an address that cannot be used', () => {
    let t: TestDatabase
    let blocker: net.Server
    beforeAll(async () => {
      t = await createTestDatabase()
      await t.close()
      blocker = net.createServer().listen(0, '127.0.0.1')
      await once(blocker, 'listening')
    })
    afterAll(async () => {
      blocker?.close()
      await t?.drop()
    })

    it('names YUBIVAL_ADMIN_PORT when the admin port is taken', () => {
      const port = (blocker.address() as net.AddressInfo).port
      const dbEnv: Record<string, string> = t.url === null ? { YUBIVAL_DATA_DIR: t.dataDir } : { DATABASE_URL: t.url }
      const line = serveFails({ ...dbEnv, YUBIVAL_ADMIN_PORT: String(port) })
      expect(line).toContain(`YUBIVAL_ADMIN_PORT: cannot listen on 127.0.0.1:${port}: EADDRINUSE`)
    })
  })
})
