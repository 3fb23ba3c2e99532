// Native HTTPS (YUBIVAL_TLS_CERT_FILE / YUBIVAL_TLS_KEY_FILE) with clients nobody on the team wrote:
// the ykclient CLI (libcurl) with --cai and pam_yubico with cainfo=, against a test CA.
import { spawnSync } from 'node:child_process'
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { randomBytes } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createInstallation, type TestInstallation } from '../helpers/environment.js'
import { httpsGet, spawnServe, type ServeProcess } from '../helpers/serve-process.js'
import { makeTestCa, type TestCa } from '../helpers/test-ca.js'
import { yubiotpOtp } from '../helpers/yubiotp.js'

const haveYkclient = existsSync('/usr/bin/ykclient')
const havePam = existsSync('/usr/bin/pamtester') && existsSync('/etc/pam.d') && process.getuid?.() === 0
if (process.env.CI !== undefined && !(haveYkclient && havePam)) throw new Error('CI must install ykclient, pamtester and libpam-yubico and run as root')

describe.skipIf(!haveYkclient)('yubival serve over HTTPS', () => {
  let inst: TestInstallation
  let ca: TestCa
  let server: ServeProcess
  let verifyUrl: string

  beforeAll(async () => {
    inst = await createInstallation({ keyCount: 2 })
    ca = makeTestCa(inst.dir)
    server = await spawnServe({ ...inst.env, YUBIVAL_TLS_CERT_FILE: ca.serverCert, YUBIVAL_TLS_KEY_FILE: ca.serverKey })
    verifyUrl = `https://127.0.0.1:${server.port}/wsapi/2.0/verify`
  })
  afterAll(async () => {
    expect(await server?.stop()).toBe(0)
    await inst?.cleanup()
  })

  function ykclient (otp: string, cai: string | null): { status: number | null, out: string } {
    const args = ['--debug', '--url', verifyUrl, '--apikey', inst.client.key, ...(cai === null ? [] : ['--cai', cai]), String(inst.client.id), otp]
    const r = spawnSync('ykclient', args, { encoding: 'utf8', timeout: 30_000 })
    return { status: r.status, out: r.stdout + r.stderr }
  }

  it('announces https and answers the probes to a client that trusts the test CA', async () => {
    expect(server.output()).toContain('"scheme":"https"')
    const health = await httpsGet(`https://127.0.0.1:${server.port}/healthz`, readFileSync(ca.caCert))
    expect(health.status).toBe(200)
    const ready = await httpsGet(`https://127.0.0.1:${server.port}/readyz`, readFileSync(ca.caCert))
    expect(ready).toMatchObject({ status: 200 })
  })

  it('ykclient --cai verifies the server and gets Success, then REPLAYED_OTP', () => {
    const otp = yubiotpOtp(inst.keys[0]!, 1, 0)
    const first = ykclient(otp, ca.caCert)
    expect(first.out).toContain('Verification output (0): Success')
    expect(first.status).toBe(0)
    const replay = ykclient(otp, ca.caCert)
    expect(replay.out).toContain('REPLAYED_OTP')
    expect(replay.status).toBe(2)
  })

  it('ykclient without the CA refuses the server certificate (so the check above meant something)', () => {
    const r = ykclient(yubiotpOtp(inst.keys[0]!, 2, 0), null)
    // libcurl's certificate check fails; ykclient reports any curl failure this way.
    expect(r.out).toContain('Error performing curl')
    expect(r.out).not.toContain('Success')
    expect(r.status).toBe(3)
  })

  it('a plain-HTTP request to the HTTPS port gets no WSAPI answer', async () => {
    const res = await fetch(`http://127.0.0.1:${server.port}/healthz`).then((r) => r.status, () => 'failed')
    expect(res).not.toBe(200)
  })

  it.skipIf(!havePam)('pam_yubico with cainfo= logs in over HTTPS', () => {
    const service = `yubival-tls-${randomBytes(4).toString('hex')}`
    const pamFile = path.join('/etc/pam.d', service)
    const authfile = path.join(inst.dir, 'authfile')
    writeFileSync(authfile, `ykuser:${inst.keys[1]!.publicId}\n`)
    writeFileSync(pamFile, `auth required pam_yubico.so id=${inst.client.id} key=${inst.client.key} urllist=${verifyUrl} ` +
      `cainfo=${ca.caCert} authfile=${authfile}\naccount required pam_permit.so\n`)
    try {
      const run = (otp: string) => spawnSync('pamtester', [service, 'ykuser', 'authenticate'], { input: otp, encoding: 'utf8', timeout: 30_000 })
      const ok = run(yubiotpOtp(inst.keys[1]!, 1, 0))
      expect(ok.stdout + ok.stderr).toContain('successfully authenticated')
      expect(ok.status).toBe(0)
    } finally {
      rmSync(pamFile, { force: true })
    }
  })
})
