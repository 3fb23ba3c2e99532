// `yubival otp decode` and `yubival doctor` on copies of the pyhsm fixture tree. Needs `npm run build`.
import { chmodSync, existsSync, readdirSync, rmSync } from 'node:fs'
import path from 'node:path'
import { afterEach, describe, expect, test } from 'vitest'
import { credentials } from '../ksm/fixtures.js'
import { freePort, startServer } from '../helpers/server-process.js'
import { runCli } from '../helpers/cli.js'
import { adminEnv, fixtureOtp, type AdminEnv } from './admin-env.js'

let a: AdminEnv
afterEach(async () => { await a?.cleanup() })

const secretsOf = (publicId: string): string[] => {
  const c = credentials().find((x) => x.public_id === publicId)!
  return [c.yubikey_aes_key, c.private_uid]
}

describe('otp decode', () => {
  test('explains each verdict from the AEAD, the token and the stored counters, without using the OTP up', async () => {
    a = await adminEnv({ folders: ['1'] })
    const decode = (name: string, extra: string[] = []): { status: number | null, out: string } => {
      const r = a.cli(['otp', 'decode', fixtureOtp(name), ...extra])
      return { status: r.status, out: r.stdout + r.stderr }
    }
    const fresh = decode('credtivccccc-otp1')
    expect(fresh.out).toBe([
      'public id:     credtivccccc',
      `AEAD:          ${path.join(a.aeadDir, '1/cr/ed/ti/vc/cc/cc/credtivccccc')} (key handle 1, file version 1)`,
      'KSM:           OK counter=0001 low=1b2c high=0a use=00 (key handle 1)',
      'private uid:   match',
      'CRC:           ok',
      'OTP fields:    counter=1 (0x0001) use=0 timestamp=0x0a1b2c (high=0x0a low=0x1b2c)',
      'stored:        no row (key never used)',
      'verify answer: OK (reason ok): first OTP seen from this key: it would be accepted (counter=1 use=0) and its counters stored',
      ''
    ].join('\n'))
    expect(fresh.status).toBe(0)

    expect(a.cli(['keys', 'import', '--format', 'ykval', '-'], '1,1359550400,1359551000,credtivccccc,1,1,6972,10,abc,\n').status).toBe(0)
    const replayed = decode('credtivccccc-otp1')
    expect(replayed.status).toBe(1)
    expect(replayed.out).toContain('stored:        counter=1 use=1, active, last use 2013-01-30T13:03:20Z\n')
    expect(replayed.out).toContain('verify answer: REPLAYED_OTP (reason replayed_otp): the stored counter=1 use=1 is as high or higher than the OTP\'s counter=1 use=0')
    expect(replayed.out.endsWith('yubival: verify would answer REPLAYED_OTP\n')).toBe(true)
    // the same counters and the stored nonce: a retransmitted request
    expect(decode('credtivccccc-otp2', ['--nonce', 'abc']).out).toContain('verify answer: REPLAYED_REQUEST (reason replayed_request)')
    // a newer OTP would pass, and asking twice does not use it up
    for (let i = 0; i < 2; i++) {
      const newer = decode('credtivccccc-otp3')
      expect(newer.out).toContain('verify answer: OK (reason ok): the OTP\'s counter=258 use=6 is higher than the stored counter=1 use=1')
      expect(newer.status).toBe(0)
    }
    expect(a.cli(['keys', 'disable', 'credtivccccc']).status).toBe(0)
    expect(decode('credtivccccc-otp3').out).toContain('verify answer: BAD_OTP (reason key_disabled)')

    // KSM failures, with the checks that were made
    const uid = decode('N02-wrong-private-uid')
    expect(uid.out).toContain('private uid:   mismatch\nCRC:           not checked\n')
    expect(uid.out).toContain('verify answer: BAD_OTP (reason uid_mismatch)')
    const crc = decode('N03-bad-crc')
    expect(crc.out).toContain('private uid:   match\nCRC:           mismatch\n')
    expect(crc.out).toContain('verify answer: BAD_OTP (reason crc_mismatch)')
    const unknown = decode('N05-unknown-public-id')
    expect(unknown.out).toContain(`AEAD:          none; looked at ${path.join(a.aeadDir, '1/cc/cc/cc/cc/cc/cb/cccccccccccb')}\n`)
    expect(unknown.out).toContain('verify answer: BAD_OTP (reason unknown_key)')
    expect(unknown.status).toBe(1)

    // JSON for programs; never the AES key, the private uid or the whole OTP
    const json = a.cli(['otp', 'decode', '--json', fixtureOtp('credtivccccc-otp3')])
    const report = JSON.parse(json.stdout) as { verdict: { status: string, reason: string }, fields: Record<string, number> }
    expect(report.verdict).toMatchObject({ status: 'BAD_OTP', reason: 'key_disabled' })
    expect(report.fields).toEqual({ counter: 258, sessionUse: 6, timestampHigh: 3, timestampLow: 0x405, timestamp: 0x030405 })
    for (const out of [json.stdout, fresh.out, uid.out, crc.out]) {
      for (const secret of secretsOf('credtivccccc')) expect(out).not.toContain(secret)
      expect(out).not.toContain(fixtureOtp('credtivccccc-otp3'))
    }
  })

  test('with the embedded database held by another process, says so and still shows the KSM part', async () => {
    a = await adminEnv({ folders: ['1'], backend: 'pglite' })
    await a.db.reopen()
    try {
      const r = a.cli(['otp', 'decode', fixtureOtp('credtivccccc-otp1')])
      expect(r.status).toBe(1)
      expect(r.stdout).toContain('OTP fields:    counter=1 (0x0001) use=0')
      expect(r.stdout).toMatch(/stored: +unknown: embedded database .* is in use by process \d+/)
      expect(r.stdout).toContain('verify answer: UNKNOWN: the stored counters cannot be read')
    } finally {
      await a.db.close()
    }
  })
})

describe('doctor', () => {
  const lines = (out: string): string[] => out.split('\n').filter((l) => l !== '')

  test('one line per check, a failing check names its cause and sets the exit status', async () => {
    a = await adminEnv({ folders: ['1'] })
    const empty = a.cli(['doctor'])
    expect(empty.status).toBe(1)
    expect(lines(empty.stdout).map((l) => l.split(':')[0])).toEqual(['ok    configuration', 'ok    keyfile', 'ok    AEAD directory', 'ok    keys check', 'ok    database', 'FAIL  clients'])
    expect(empty.stdout).toContain('ok    keys check: 11 AEAD files, all open with the keyfile\n')
    expect(empty.stdout).toContain('FAIL  clients: no active client (0 in total): nobody can verify OTPs; create one with `yubival clients gen`\n')
    expect(empty.stderr).toBe('yubival: 1 check failed: clients\n')

    expect(a.cli(['clients', 'gen']).status).toBe(0)
    const good = a.cli(['doctor', '--json'])
    expect(good.status).toBe(0)
    const report = JSON.parse(good.stdout) as { ok: boolean, checks: Array<{ name: string, status: string }> }
    expect(report.ok).toBe(true)
    expect(report.checks.map((c) => c.status)).toEqual(['ok', 'ok', 'ok', 'ok', 'ok', 'ok'])

    chmodSync(a.keyfile, 0o644)
    rmSync(path.join(a.aeadDir, '1', 'cr', 'ed', 'ti', 'vc', 'cc', 'cc', 'credtivccccc'))
    const bad = a.cli(['doctor', '--key-handle', '1,2'])
    expect(bad.status).toBe(1)
    expect(bad.stdout).toContain(`FAIL  keyfile: ${a.keyfile} has mode 0644: group/others may read the keys (chmod 600); serve refuses it\n`)
    expect(bad.stdout).toContain(`warn  AEAD directory: ${a.aeadDir}: no readable folder for key handle 2 (ENOENT)\n`)
    expect(bad.stdout).toContain('FAIL  keys check: ')
    expect(bad.stderr).toBe('yubival: 2 checks failed: keyfile, keys check\n')
    const conf = a.cli(['doctor', '--key-handle', 'x/y'])
    expect(conf.stdout).toBe('FAIL  configuration: key handle "x/y" cannot name a folder (contains / \\ or NUL, or is . or ..)\n')
    expect(conf.status).toBe(1)
    const usage = a.cli(['doctor', '--url', 'http://127.0.0.1:1'])
    expect(usage.status).toBe(2)
    expect(usage.stderr).toBe('yubival: --url, --id and --key go together (the live check signs its requests with that client)\n')
  })

  test('--url/--id/--key verifies a throwaway key through the running server, checks the replay, and removes it', async () => {
    a = await adminEnv({ folders: ['1'] })
    const [id, key] = a.cli(['clients', 'gen']).stdout.trim().split(',') as [string, string]
    const server = await startServer(a.env)
    try {
      const r = a.cli(['doctor', '--url', server.url, '--id', id, '--key', key])
      expect(r.stdout).toMatch(/ok {4}live verify: http:\/\/127\.0\.0\.1:\d+\/wsapi\/2\.0\/verify answered OK for a new OTP of throwaway key vv[cbdefghijklnrtuv]{10} \(request and response signatures good\)\n/)
      expect(r.stdout).toContain('ok    live replay: the same OTP again was answered REPLAYED_OTP\n')
      if (a.db.backend === 'postgresql') {
        expect(r.stdout).toMatch(/ok {4}live cleanup: throwaway key vv[cbdefghijklnrtuv]{10} removed\n/)
      } else {
        // the server holds the embedded database: reported, not a failure
        expect(r.stdout).toMatch(/warn {2}database: embedded database .* is in use by process \d+/)
        expect(r.stdout).toMatch(/warn {2}live cleanup: throwaway key (vv[cbdefghijklnrtuv]{10}): could not remove its database row/)
      }
      expect(r.status).toBe(0)
      // the throwaway AEAD is gone, the tree is as before
      expect(readdirSync(path.join(a.aeadDir, '1')).sort()).toEqual(['cc', 'cr', 'dt', 'ft', 'vv'])
      expect(existsSync(path.join(a.aeadDir, '1', 'vv', 'vv'))).toBe(true)
      expect(readdirSync(path.join(a.aeadDir, '1', 'vv'))).toEqual(['vv'])

      const wrongKey = a.cli(['doctor', '--url', server.url, '--id', id, '--key', 'AAAA' + key.slice(4)])
      expect(wrongKey.status).toBe(1)
      expect(wrongKey.stdout).toContain('answered BAD_SIGNATURE with a bad response signature or echo (wrong --key?)')
      const closed = await freePort()
      const down = a.cli(['doctor', '--url', `http://127.0.0.1:${closed}`, '--id', id, '--key', key])
      expect(down.status).toBe(1)
      expect(down.stdout).toMatch(/FAIL {2}live verify: http:\/\/127\.0\.0\.1:\d+\/wsapi\/2\.0\/verify: fetch failed \(.*ECONNREFUSED.*\)\n/)
    } finally {
      await server.stop()
    }
  })

  // PostgreSQL only: an embedded database admits one process, and the server holds it
  test.skipIf(process.env.TEST_DATABASE_URL === undefined)('with the AEADs in the database the throwaway key is an aead_table row, removed afterwards', async () => {
    a = await adminEnv({ folders: ['1'] })
    const env = { ...a.env, YUBIVAL_AEAD_STORE: 'database' }
    const [id, key] = a.cli(['clients', 'gen']).stdout.trim().split(',') as [string, string]
    expect(a.cli(['keys', 'copy', '--from', 'files', '--to', 'database']).status).toBe(0)
    const server = await startServer(env)
    try {
      const r = runCli(['doctor', '--url', server.url, '--id', id, '--key', key], { env })
      expect(r.stdout).toMatch(/ok {4}live verify: .* answered OK for a new OTP of throwaway key vv[cbdefghijklnrtuv]{10} /)
      expect(r.stdout).toContain('ok    live replay: the same OTP again was answered REPLAYED_OTP\n')
      expect(r.stdout).toMatch(/ok {4}live cleanup: throwaway key vv[cbdefghijklnrtuv]{10} removed\n/)
      // no file was written, and no row is left
      expect(readdirSync(path.join(a.aeadDir, '1')).sort()).toEqual(['cc', 'cr', 'dt', 'ft', 'vv'])
      await a.db.reopen()
      try {
        expect((await a.db.db.query("SELECT count(*)::int AS n FROM aead_table WHERE public_id LIKE 'vv%' AND public_id <> 'vvvvvvvvvvvv'")).rows).toEqual([{ n: 0 }])
      } finally {
        await a.db.close()
      }
    } finally {
      await server.stop()
    }
  })
})
