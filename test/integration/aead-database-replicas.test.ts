// Stateless replicas: two `yubival serve` processes on one PostgreSQL database with
// YUBIVAL_AEAD_STORE=database, each with its own empty AEAD directory and the same keyfile. A key made
// after both started validates through either, replays are caught across them, and `keys disable`
// is honoured by both. Needs TEST_DATABASE_URL (PGlite admits one process) and `npm run build`.
import { randomBytes } from 'node:crypto'
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { cliOk } from '../helpers/cli.js'
import { createTestDatabase, type TestDatabase } from '../helpers/database.js'
import { startServer, type ServerProcess } from '../helpers/server-process.js'
import { verifyOtp } from '../helpers/wsapi-client.js'
import { yubiotpOtps, type SoftKey } from '../helpers/yubiotp.js'
import { listFiles } from '../cli/keys-env.js'

const hasPg = process.env.TEST_DATABASE_URL !== undefined && process.env.TEST_DATABASE_URL !== ''

describe.skipIf(!hasPg)('two replicas with AEADs in PostgreSQL', () => {
  let dir: string
  let t: TestDatabase
  let env: Record<string, string>
  const servers: ServerProcess[] = []

  beforeAll(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'yubival-replicas-'))
    const keyfile = path.join(dir, 'keys.json')
    writeFileSync(keyfile, JSON.stringify({ 1: randomBytes(32).toString('hex') }))
    chmodSync(keyfile, 0o400)
    t = await createTestDatabase({ backend: 'postgresql' })
    await t.close()
    env = {
      YUBIVAL_DATA_DIR: path.join(dir, 'data'),
      YUBIVAL_KEYFILE: keyfile,
      YUBIVAL_KEY_HANDLES: '1',
      YUBIVAL_AEAD_STORE: 'database',
      YUBIVAL_AEAD_DIR: path.join(dir, 'unused-aeads'),
      DATABASE_URL: t.url!
    }
    for (const name of ['a', 'b']) {
      const aeadDir = path.join(dir, `aeads-${name}`)
      mkdirSync(aeadDir)
      servers.push(await startServer({ ...env, YUBIVAL_AEAD_DIR: aeadDir }))
    }
  }, 60_000)
  afterAll(async () => {
    await Promise.all(servers.map(async (s) => s.stop()))
    await t?.drop()
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true })
  })

  test('a key generated after start validates through both; disable is refused by both', async () => {
    const [a, b] = servers as [ServerProcess, ServerProcess]
    const client = (() => {
      const [id, key] = cliOk(['clients', 'gen'], { env }).trim().split(',')
      return { id: Number(id), key: key! }
    })()
    const csv = cliOk(['keys', 'generate', '--start-public-id', 'vvcccccccccb', '--print', 'csv'], { env }).trim().split(',')
    const key: SoftKey = { publicId: csv[1]!, privateUidHex: csv[2]!, aesKeyHex: csv[3]! }
    expect(key.publicId).toBe('vvcccccccccb')
    const [otp1, otp2, otp3, otp4] = yubiotpOtps(key, [{ counter: 1, use: 0 }, { counter: 1, use: 1 }, { counter: 2, use: 0 }, { counter: 2, use: 1 }])

    expect((await verifyOtp(a.url, client, otp1!)).status).toBe('OK')
    expect((await verifyOtp(b.url, client, otp2!)).status).toBe('OK')
    // one counter state for both replicas
    expect((await verifyOtp(b.url, client, otp1!)).status).toBe('REPLAYED_OTP')
    expect((await verifyOtp(a.url, client, otp2!)).status).toBe('REPLAYED_OTP')

    expect(cliOk(['keys', 'disable', key.publicId], { env })).toBe(`key ${key.publicId} disabled\n`)
    expect((await verifyOtp(a.url, client, otp3!)).status).toBe('BAD_OTP')
    expect((await verifyOtp(b.url, client, otp4!)).status).toBe('BAD_OTP')

    // nothing was ever read from or written to the local AEAD directories
    expect(listFiles(path.join(dir, 'aeads-a'))).toEqual([])
    expect(listFiles(path.join(dir, 'aeads-b'))).toEqual([])
  }, 60_000)
})
