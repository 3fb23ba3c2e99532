// SIGHUP on a real `yubival serve` (what `systemctl reload` sends): a replaced AEAD is read again
// instead of the cached one, a renewed TLS certificate is served to new connections, and a broken one
// is refused with the old certificate kept. The process stays up throughout.
import { randomBytes } from 'node:crypto'
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import tls from 'node:tls'
import { afterEach, describe, expect, it } from 'vitest'
import { cliOk } from '../helpers/cli.js'
import { createInstallation, type TestInstallation } from '../helpers/environment.js'
import { httpsGet, spawnServe, type ServeProcess } from '../helpers/serve-process.js'
import { makeTestCa } from '../helpers/test-ca.js'
import { verifyOtp } from '../helpers/wsapi-client.js'
import { yubiotpOtp, type SoftKey } from '../helpers/yubiotp.js'

let inst: TestInstallation | undefined
let server: ServeProcess | undefined
afterEach(async () => {
  if (server !== undefined) expect(await server.stop()).toBe(0)
  await inst?.cleanup()
  server = undefined
  inst = undefined
})

async function reload (s: ServeProcess, n: number): Promise<void> {
  s.signal('SIGHUP')
  // each SIGHUP logs one line; wait for the n-th
  for (let i = 0; i < 200 && (s.output().match(/"msg":"SIGHUP: reload/g) ?? []).length < n; i++) await new Promise((resolve) => setTimeout(resolve, 25))
  expect((s.output().match(/"msg":"SIGHUP: reload/g) ?? []).length).toBe(n)
}

function peerFingerprint (port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ host: '127.0.0.1', port, rejectUnauthorized: false }, () => {
      resolve(socket.getPeerCertificate().fingerprint256)
      socket.end()
    })
    socket.on('error', reject)
  })
}

describe('SIGHUP', () => {
  it('while the server is still starting is remembered, not fatal; the server comes up and reloads once', async () => {
    inst = await createInstallation()
    const { spawn } = await import('node:child_process')
    const { BIN } = await import('../helpers/server-process.js')
    const child = spawn(process.execPath, [BIN, 'serve'], {
      env: { ...process.env, ...inst.env, YUBIVAL_PORT: '0', YUBIVAL_ADMIN_PORT: '0' }, stdio: ['ignore', 'pipe', 'pipe']
    })
    let out = ''
    child.stdout.on('data', (d: Buffer) => { out += String(d) })
    child.stderr.on('data', (d: Buffer) => { out += String(d) })
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)))
    try {
      // while the modules load, and again while it opens the database
      await new Promise((resolve) => setTimeout(resolve, 150))
      child.kill('SIGHUP')
      await new Promise((resolve) => setTimeout(resolve, 250))
      if (!out.includes('"msg":"yubival listening"')) child.kill('SIGHUP')
      for (let i = 0; i < 400 && !out.includes('"msg":"SIGHUP: reloaded"'); i++) await new Promise((resolve) => setTimeout(resolve, 25))
      expect(out).toContain('"msg":"yubival listening"')
      expect(out).toContain('"msg":"SIGHUP: reloaded"')
      child.kill('SIGTERM')
      expect(await exited).toBe(0)
    } finally {
      // never leave a server behind when an expectation failed
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
    }
  })

  it('forgets cached AEADs: a key re-imported with a new secret works after the reload, not before', async () => {
    inst = await createInstallation()
    server = await spawnServe(inst.env)
    const base = `http://127.0.0.1:${server.port}`
    const old = inst.keys[0]!
    expect((await verifyOtp(base, inst.client, yubiotpOtp(old, 1, 0))).status).toBe('OK')
    // the YubiKey is reprogrammed under the same public id; the new AEAD replaces the file
    const fresh: SoftKey = { publicId: old.publicId, aesKeyHex: randomBytes(16).toString('hex'), privateUidHex: randomBytes(6).toString('hex') }
    const csv = path.join(inst.dir, 'again.csv')
    writeFileSync(csv, `# ykksm 1\n1,${fresh.publicId},${fresh.privateUidHex},${fresh.aesKeyHex},000000000000,,\n`)
    cliOk(['keys', 'import', '--force', csv], { env: inst.env })
    // the server still decrypts with the cached (old) AEAD
    expect((await verifyOtp(base, inst.client, yubiotpOtp(fresh, 2, 0))).status).toBe('BAD_OTP')
    await reload(server, 1)
    expect((await verifyOtp(base, inst.client, yubiotpOtp(fresh, 3, 0))).status).toBe('OK')
    expect(server.output()).toContain('"reloaded":["AEAD cache cleared"]')
  })

  it('serves a renewed TLS certificate to new connections; a broken one is logged and the old one kept', async () => {
    inst = await createInstallation()
    const first = makeTestCa(inst.dir)
    const certFile = path.join(inst.dir, 'live-cert.pem')
    const keyFile = path.join(inst.dir, 'live-key.pem')
    copyFileSync(first.serverCert, certFile)
    copyFileSync(first.serverKey, keyFile)
    server = await spawnServe({ ...inst.env, YUBIVAL_TLS_CERT_FILE: certFile, YUBIVAL_TLS_KEY_FILE: keyFile })
    const before = await peerFingerprint(server.port)

    const renewedDir = path.join(inst.dir, 'renewed')
    mkdirSync(renewedDir)
    const renewed = makeTestCa(renewedDir)
    copyFileSync(renewed.serverCert, certFile)
    copyFileSync(renewed.serverKey, keyFile)
    await reload(server, 1)
    const after = await peerFingerprint(server.port)
    expect(after).not.toBe(before)

    // a key that does not fit: refused, the renewed certificate stays in use
    copyFileSync(renewed.otherKey, keyFile)
    await reload(server, 2)
    expect(server.output()).toContain('"msg":"SIGHUP: reload partly failed"')
    expect(server.output()).toContain('YUBIVAL_TLS_KEY_FILE')
    expect(await peerFingerprint(server.port)).toBe(after)
    // still serving, and a client that trusts only the renewed CA accepts it
    expect((await httpsGet(`https://127.0.0.1:${server.port}/healthz`, readFileSync(renewed.caCert))).status).toBe(200)
  })
})
