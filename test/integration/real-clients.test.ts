// Acceptance with clients nobody on the team wrote: pam_yubico (through pamtester), the ykclient CLI
// (libykclient) and python3-yubiotp's yubiclient, against a real listening `yubival serve`.
// OTPs come from python3-yubiotp; keys were provisioned with our own `keys import`.
import { spawnSync } from 'node:child_process'
import { existsSync, rmSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { randomBytes } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createInstallation, type TestInstallation } from '../helpers/environment.js'
import { startServer, type ServerProcess } from '../helpers/server-process.js'
import { yubiotpOtp } from '../helpers/yubiotp.js'

const haveTools = existsSync('/usr/bin/pamtester') && existsSync('/usr/bin/ykclient') &&
  existsSync('/usr/bin/yubiclient') && existsSync('/etc/pam.d') && process.getuid?.() === 0
// On CI the tools are installed by .ci/run: missing tools there are a failure, not a skip.
if (process.env.CI !== undefined && !haveTools) throw new Error('CI must install libpam-yubico, pamtester, libykclient-dev and python3-yubiotp and run as root')

describe.skipIf(!haveTools)('real WSAPI clients against yubival serve', () => {
  let inst: TestInstallation
  let server: ServerProcess
  let verifyUrl: string
  const pamService = `yubival-test-${randomBytes(4).toString('hex')}`
  const pamFile = path.join('/etc/pam.d', pamService)

  beforeAll(async () => {
    inst = await createInstallation({ keyCount: 3 })
    server = await startServer(inst.env)
    verifyUrl = `${server.url}/wsapi/2.0/verify`
    const key = inst.keys[0]!
    const authfile = path.join(inst.dir, 'authfile')
    writeFileSync(authfile, `ykuser:${key.publicId}\n`)
    writeFileSync(pamFile, [
      `auth required pam_yubico.so id=${inst.client.id} key=${inst.client.key} urllist=${verifyUrl} authfile=${authfile}`,
      'account required pam_permit.so',
      ''
    ].join('\n'))
  })

  afterAll(async () => {
    rmSync(pamFile, { force: true })
    await server?.stop()
    await inst?.cleanup()
  })

  function pamtester (otp: string): { status: number | null, out: string } {
    const r = spawnSync('pamtester', [pamService, 'ykuser', 'authenticate'], { input: otp, encoding: 'utf8', timeout: 30_000 })
    return { status: r.status, out: r.stdout + r.stderr }
  }

  it('pam_yubico logs the user in with a fresh OTP and refuses its replay', () => {
    const otp = yubiotpOtp(inst.keys[0]!, 5, 0)
    const first = pamtester(otp)
    expect(first.out).toContain('successfully authenticated')
    expect(first.status).toBe(0)
    const replay = pamtester(otp)
    expect(replay.out).toContain('Authentication failure')
    expect(replay.status).toBe(1)
    // An older OTP of the same key (lower counter) is refused too.
    const older = pamtester(yubiotpOtp(inst.keys[0]!, 4, 9))
    expect(older.out).toContain('Authentication failure')
    const next = pamtester(yubiotpOtp(inst.keys[0]!, 5, 1))
    expect(next.status).toBe(0)
  })

  it('pam_yubico refuses an OTP of a key that is not mapped to the user, without asking the server', () => {
    const r = pamtester(yubiotpOtp(inst.keys[1]!, 1, 0))
    expect(r.out).toContain('Authentication failure')
  })

  it('pam_yubico with a wrong API key reports a bad signature (service unavailable), never success', () => {
    const wrong = Buffer.from(randomBytes(20)).toString('base64')
    const file = `${pamFile}-wrongkey`
    const authfile = path.join(inst.dir, 'authfile')
    writeFileSync(file, `auth required pam_yubico.so id=${inst.client.id} key=${wrong} urllist=${verifyUrl} authfile=${authfile}\naccount required pam_permit.so\n`)
    try {
      const r = spawnSync('pamtester', [path.basename(file), 'ykuser', 'authenticate'], { input: yubiotpOtp(inst.keys[0]!, 9, 0), encoding: 'utf8', timeout: 30_000 })
      expect(r.status).toBe(1)
      expect(r.stdout + r.stderr).toContain('cannot retrieve authentication info')
    } finally {
      rmSync(file, { force: true })
    }
  })

  function ykclient (otp: string, apikey = inst.client.key): { status: number | null, out: string } {
    const r = spawnSync('ykclient', ['--debug', '--url', verifyUrl, '--apikey', apikey, String(inst.client.id), otp], { encoding: 'utf8', timeout: 30_000 })
    return { status: r.status, out: r.stdout + r.stderr }
  }

  it('ykclient CLI: Success, then REPLAYED_OTP for the same OTP', () => {
    const otp = yubiotpOtp(inst.keys[1]!, 1, 0)
    const first = ykclient(otp)
    expect(first.out).toContain('Verification output (0): Success')
    expect(first.status).toBe(0)
    const replay = ykclient(otp)
    expect(replay.out).toContain('REPLAYED_OTP')
    expect(replay.status).toBe(2)
  })

  it('ykclient CLI: an OTP for a key yubival does not know is BAD_OTP, signed so the client reads it', () => {
    const stranger = { publicId: 'vvvvvvvvvvvv', aesKeyHex: randomBytes(16).toString('hex'), privateUidHex: randomBytes(6).toString('hex') }
    const r = ykclient(yubiotpOtp(stranger, 1, 0))
    expect(r.out).toMatch(/Verification output \(1\)/)
    expect(r.status).toBe(3)
  })

  it('yubiclient (python3-yubiotp) with non-alphabetical parameters, timestamp, sl and timeout: OK, then replay refused', () => {
    const otp = yubiotpOtp(inst.keys[2]!, 3, 7)
    const args = ['-u', verifyUrl, '-i', String(inst.client.id), '-k', inst.client.key, '-t', '--sl', 'secure', '--timeout', '5', otp]
    const r = spawnSync('yubiclient', args, { encoding: 'utf8', timeout: 30_000 })
    expect(r.stdout + r.stderr).toContain('OK')
    expect(r.status).toBe(0)
    const again = spawnSync('yubiclient', args, { encoding: 'utf8', timeout: 30_000 })
    expect(again.stdout + again.stderr).toContain('REPLAYED_OTP')
    expect(again.status).toBe(2)
  })

  it('the server log names public ids and reasons but never an OTP token or the client key', async () => {
    // spawnSync above blocked our event loop: wait for the child's pipe to be read.
    const log = await server.waitForOutput(inst.keys[2]!.publicId)
    expect(log).toContain(inst.keys[0]!.publicId)
    expect(log).toMatch(/"reason":"replayed_otp"/)
    expect(log).not.toContain(inst.client.key)
    expect(log).not.toMatch(new RegExp(`${inst.keys[0]!.publicId}[cbdefghijklnrtuv]{32}`))
  })
})
