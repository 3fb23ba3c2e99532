// The migration guide, performed: a yubikey-val + yhsm-yubikey-ksm installation (the pyhsm fixture
// keyfile and AEAD tree, read in place; yubikey-val's database as ykval-export-clients / ykval-export
// CSV) is moved to yubival, and the migrated keys and clients are used through a real listening server.
// PostgreSQL when TEST_DATABASE_URL is set, else PGlite. Needs `npm run build`.
import { spawnSync } from 'node:child_process'
import { chmodSync, cpSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { randomBytes } from 'node:crypto'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { cliOk, runCli } from '../helpers/cli.js'
import { createTestDatabase, type TestDatabase } from '../helpers/database.js'
import { startServer, type ServerProcess } from '../helpers/server-process.js'
import { responseSignatureOk, verifyOtp, type VerifyResult } from '../helpers/wsapi-client.js'
import { fixturePath } from '../ksm/fixtures.js'
import { fixtureOtp } from '../cli/admin-env.js'

// what `ykval-export-clients` printed on the old server: id,active,created,secret,email,notes,otp
const PAM_SECRET = randomBytes(20).toString('base64')
const CLIENTS_CSV = [
  `7,1,1359550387,${PAM_SECRET},admin@example.com,pam_yubico on bastion,`,
  `8,0,1359550390,${randomBytes(20).toString('base64')},,retired,`
].join('\n') + '\n'

// what `ykval-export` printed: active,created,modified,yk_publicname,yk_counter,yk_use,yk_low,yk_high,nonce,notes
// (PHP echoes a PostgreSQL false as an empty string: ftftftftftft is disabled)
const YUBIKEYS_CSV = [
  '1,1359550400,1359551000,credtivccccc,1,1,6972,10,f6b5c3a2e1d0918273645546372819ab,',
  '1,1359550400,1359552000,dteffujehknh,258,6,1029,3,0000000000000000,',
  ',1359550400,1359553000,ftftftftftft,1,0,6956,10,0000000000000000,lost in 2019'
].join('\n') + '\n'

const otp = fixtureOtp

describe('moving from yubikey-val + yhsm-yubikey-ksm', () => {
  let dir: string
  let db: TestDatabase
  let env: Record<string, string>
  let server: ServerProcess | undefined
  const client = { id: 7, key: PAM_SECRET }

  beforeAll(async () => {
    // the old installation's files: /etc/yubico/yhsm/keys.json and /var/cache/yubikey-ksm/aeads
    dir = mkdtempSync(path.join(tmpdir(), 'yubival-migration-'))
    const keyfile = path.join(dir, 'etc', 'yubico', 'yhsm', 'keys.json')
    const aeadDir = path.join(dir, 'var', 'cache', 'yubikey-ksm', 'aeads')
    cpSync(fixturePath('keys.json'), keyfile)
    chmodSync(keyfile, 0o600)
    cpSync(fixturePath('aeads'), aeadDir, { recursive: true })
    db = await createTestDatabase({ migrate: false })
    await db.close()
    env = {
      YUBIVAL_KEYFILE: keyfile,
      YUBIVAL_AEAD_DIR: aeadDir,
      YUBIVAL_KEY_HANDLES: '1',
      YUBIVAL_DATA_DIR: db.dataDir,
      DATABASE_URL: db.url ?? ''
    }
  })

  afterAll(async () => {
    await server?.stop()
    await db?.drop()
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true })
  })

  async function verify (name: string, c = client): Promise<VerifyResult> {
    const r = await verifyOtp(server!.url, c, otp(name))
    expect(responseSignatureOk(r.fields, c.key), `response signature for ${name}`).toBe(true)
    return r
  }

  test('clients and counters are imported from the reference CSV formats, nothing is converted', () => {
    const before = readFileSync(path.join(env.YUBIVAL_AEAD_DIR!, '1', 'cr', 'ed', 'ti', 'vc', 'cc', 'cc', 'credtivccccc'))
    // ykval-export-clients | yubival clients import
    const clients = runCli(['clients', 'import'], { env, input: CLIENTS_CSV })
    expect(clients.stderr).toBe('yubival: imported 2 clients from standard input: 2 new\n')
    expect(clients.status).toBe(0)
    // ykval-export | yubival keys import --format ykval
    const keys = runCli(['keys', 'import', '--format', 'ykval'], { env, input: YUBIKEYS_CSV })
    expect(keys.stderr).toBe('yubival: imported 3 keys from standard input into the yubikeys table: 3 new, 0 with raised counters\n')
    expect(keys.status).toBe(0)
    // the exports give back what went in
    expect(cliOk(['clients', 'export'], { env })).toBe(CLIENTS_CSV)
    expect(cliOk(['keys', 'export', '--format', 'ykval'], { env })).toBe(YUBIKEYS_CSV.replace(/^,/m, '0,'))
    // the AEAD tree is read where it is
    expect(readFileSync(path.join(env.YUBIVAL_AEAD_DIR!, '1', 'cr', 'ed', 'ti', 'vc', 'cc', 'cc', 'credtivccccc'))).toEqual(before)
  })

  test('migrated keys verify through a listening server; OTPs older than the migrated counters are refused', async () => {
    server = await startServer(env)
    // credtivccccc was migrated at counter=1 use=1: otp1 (1/0) and otp2 (1/1) are used up, otp3 (0x102/6) is new
    expect((await verify('credtivccccc-otp1')).status).toBe('REPLAYED_OTP')
    expect((await verify('credtivccccc-otp2')).status).toBe('REPLAYED_OTP')
    const ok = await verify('credtivccccc-otp3')
    expect(ok.status).toBe('OK')
    expect(ok.fields.otp).toBe(otp('credtivccccc-otp3'))
    expect((await verify('credtivccccc-otp3')).status).toBe('REPLAYED_OTP')
    // migrated at 258/6: otp3 is that very OTP, otp4 (0x7fff/255) is newer
    expect((await verify('dteffujehknh-otp3')).status).toBe('REPLAYED_OTP')
    expect((await verify('dteffujehknh-otp4')).status).toBe('OK')
    // not in yubikey-val's table (never used there): the first OTP is accepted
    expect((await verify('credtivccccb-otp1')).status).toBe('OK')
    // disabled in yubikey-val, disabled here
    expect((await verify('ftftftftftft-otp3')).status).toBe('BAD_OTP')
    // the retired client stays retired
    const retired = await verifyOtp(server.url, { id: 8, key: PAM_SECRET }, otp('credtivccccd-otp1'))
    expect(retired.status).toBe('NO_SUCH_CLIENT')
  })

  test.skipIf(!(existsSync('/usr/bin/pamtester') && existsSync('/etc/pam.d') && process.getuid?.() === 0))(
    'pam_yubico with only its urllist switched logs in with a migrated key', () => {
      const service = `yubival-migration-${randomBytes(4).toString('hex')}`
      const pamFile = path.join('/etc/pam.d', service)
      const authfile = path.join(dir, 'yubikey_mappings')
      writeFileSync(authfile, 'alice:credtivccccd\n')
      writeFileSync(pamFile, `auth required pam_yubico.so id=7 key=${PAM_SECRET} urllist=${server!.url}/wsapi/2.0/verify authfile=${authfile}\n` +
        'account required pam_permit.so\n')
      try {
        const pam = (o: string): number | null => spawnSync('pamtester', [service, 'alice', 'authenticate'], { input: o, encoding: 'utf8', timeout: 30_000 }).status
        expect(pam(otp('credtivccccd-otp1'))).toBe(0)
        expect(pam(otp('credtivccccd-otp1'))).toBe(1)
      } finally {
        rmSync(pamFile, { force: true })
      }
    })

  test('after the switch: counters were raised by use, and importing the old export again lowers nothing', async () => {
    await server!.stop()
    server = undefined
    const again = runCli(['keys', 'import', '--format', 'ykval', '-'], { env, input: YUBIKEYS_CSV })
    expect(again.status).toBe(0)
    expect(again.stderr).toContain('0 new, 0 with raised counters, 3 unchanged')
    const rows = cliOk(['keys', 'export', '--format', 'ykval'], { env }).split('\n')
    expect(rows.find((l) => l.includes(',credtivccccc,'))).toMatch(/^1,1359550400,\d+,credtivccccc,258,6,1029,3,[0-9a-f]{32},$/)
    expect(rows.find((l) => l.includes(',dteffujehknh,'))).toMatch(/^1,1359550400,\d+,dteffujehknh,32767,255,65535,255,[0-9a-f]{32},$/)
    const list = JSON.parse(cliOk(['keys', 'list', '--json'], { env })) as Array<{ publicId: string, counter: number, keyHandles: string[], inDatabase: boolean }>
    expect(list.find((k) => k.publicId === 'credtivcccch')).toMatchObject({ keyHandles: ['1', '2'], inDatabase: false })
    expect(list.find((k) => k.publicId === 'credtivccccb')).toMatchObject({ counter: 1, inDatabase: true })
  })
})
