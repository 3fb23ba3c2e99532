// The keys tools against the database AEAD store (YUBIVAL_AEAD_STORE=database), and `keys copy` between
// the stores, through the real CLI. PostgreSQL when TEST_DATABASE_URL is set, else PGlite. Needs `npm run build`.
import { mkdirSync, readFileSync } from 'node:fs'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { runCli, type CliResult } from '../helpers/cli.js'
import { createTestDatabase, type TestDatabase } from '../helpers/database.js'
import { fixturePath, otpCases } from '../ksm/fixtures.js'
import { CLEAN_ENV, decodeAeadFile, layoutPath, listFiles, parseYubikeyCsv, tempDir, type TempDir } from './keys-env.js'

let tmp: TempDir
let t: TestDatabase
let env: Record<string, string>
let keyfile: string

const cli = (args: string[], input?: string): CliResult => runCli(args, { env, input })
const ok = (args: string[], input?: string): CliResult => {
  const r = cli(args, input)
  if (r.status !== 0) throw new Error(`yubival ${args.join(' ')} exited ${r.status}\n${r.stdout}\n${r.stderr}`)
  return r
}

/** The fixture's import.csv as credentials (ids padded as yhsm-import-keys pads them). */
const imported = readFileSync(fixturePath('import.csv'), 'utf8').split('\n').slice(1).filter((l) => l !== '').map((l) => {
  const [, id, uid, key] = l.split(',')
  return { publicId: id!.padStart(12, 'c'), uidHex: uid!, keyHex: key! }
}).sort((a, b) => a.publicId.localeCompare(b.publicId))

async function rowCount (): Promise<number> {
  await t.reopen()
  try {
    return Number((await t.db.query<{ n: string }>('SELECT count(*) AS n FROM aead_table')).rows[0]!.n)
  } finally {
    await t.close()
  }
}

beforeAll(async () => {
  tmp = tempDir()
  keyfile = tmp.keyfile('keys-multi.json')
  t = await createTestDatabase()
  await t.close()
  env = {
    ...CLEAN_ENV,
    YUBIVAL_KEYFILE: keyfile,
    YUBIVAL_AEAD_STORE: 'database',
    YUBIVAL_AEAD_DIR: path.join(tmp.dir, 'aeads'),
    YUBIVAL_DATA_DIR: t.dataDir,
    DATABASE_URL: t.url ?? ''
  }
  mkdirSync(env.YUBIVAL_AEAD_DIR!)
})
afterAll(async () => {
  await t?.drop()
  tmp?.remove()
})

describe('keys commands with YUBIVAL_AEAD_STORE=database', () => {
  test('import, refuse a second import, export, check, list, generate, delete', async () => {
    const imp = ok(['keys', 'import', fixturePath('import.csv')])
    expect(imp.stderr).toMatch(/imported 4 keys from .*import\.csv: 4 AEAD rows in aead_table \(.*\) for key handle 1\n$/)
    expect(listFiles(env.YUBIVAL_AEAD_DIR!)).toEqual([])

    const again = cli(['keys', 'import', fixturePath('import.csv')])
    expect(again.status).toBe(1)
    expect(again.stderr).toContain('4 of 4 AEAD rows already exist in aead_table; nothing was written (use --force to replace them)')
    expect(again.stderr).toContain('aead_table(public_id=dteffujehknh, keyhandle=1)')

    const exported = parseYubikeyCsv(ok(['keys', 'export']).stdout)
    expect(exported.map(({ publicId, uidHex, keyHex }) => ({ publicId, uidHex, keyHex }))).toEqual(imported)

    const otp = otpCases().cases.find((c) => c.server === 'S1' && c.case === 'dteffujehknh-otp1')!
    const decoded = ok(['otp', 'decode', otp.otp!]).stdout
    expect(decoded).toContain('aead_table(public_id=dteffujehknh, keyhandle=1)')
    expect(decoded).toContain(otp.ok_line_if_accepted!)

    const check = ok(['keys', 'check', '--key-handle', '1'])
    expect(check.stdout).toMatch(/checked 4 AEAD rows in aead_table \(.*\) \(key handles 1\): 4 ok; problems: 0 unreadable/)

    const gen = ok(['keys', 'generate', '--start-public-id', 'vvcccccccccb', '--count', '2', '--key-handle', '1,2', '--print', 'csv'])
    expect(gen.stderr).toMatch(/4 AEAD rows in aead_table .* for key handles 1, 2/)
    expect(await rowCount()).toBe(8)

    const list = JSON.parse(ok(['keys', 'list', '--json']).stdout) as Array<{ publicId: string, keyHandles: string[] }>
    expect(list.map((k) => [k.publicId, k.keyHandles])).toEqual([
      ['ccftftftcccc', ['1']], ['dteffujehknh', ['1']], ['ftftftftftft', ['1']], ['vvcccccccccb', ['1', '2']],
      ['vvcccccccccd', ['1', '2']], ['vvvvvvvvvvvv', ['1']]
    ])

    const del = ok(['keys', 'delete', 'vvcccccccccd', '--force'])
    expect(del.stdout).toBe('key vvcccccccccd deleted: AEADs in 1, 2, no database row\n')
    const unknown = cli(['keys', 'delete', 'vvcccccccccd', '--force'])
    expect(unknown.status).toBe(1)
    expect(unknown.stderr).toMatch(/unknown public id vvcccccccccd: no database row and no AEAD in aead_table/)
    expect(await rowCount()).toBe(6)
  })

  test('copy database → files → database: every AEAD authenticated and read back; refuses duplicates and bad AEADs', async () => {
    const dir = path.join(tmp.dir, 'copied')
    mkdirSync(dir)
    const toFiles = ok(['keys', 'copy', '--from', 'database', '--to', 'files', '--aead-dir', dir])
    expect(toFiles.stderr).toMatch(/copied and verified 6 AEADs from database to files: 6 AEAD files under /)
    expect(listFiles(dir)).toContain(layoutPath('2', 'vvcccccccccb'))
    const d = decodeAeadFile(path.join(dir, layoutPath('1', 'dteffujehknh')), keyfile)
    expect([d.keyHandle, d.uidHex, d.aesKeyHex]).toEqual([1, '0102030405a6', '00112233445566778899aabbccddeeff'])
    const files = ok(['keys', 'export', '--aead-store', 'files', '--aead-dir', dir]).stdout
    expect(files).toBe(ok(['keys', 'export']).stdout)

    // back: every row exists already, so nothing is written without --force
    const refused = cli(['keys', 'copy', '--from', 'files', '--to', 'database', '--aead-dir', dir])
    expect(refused.status).toBe(1)
    expect(refused.stderr).toContain('6 of 6 AEAD rows already exist')
    expect(ok(['keys', 'copy', '--from', 'files', '--to', 'database', '--aead-dir', dir, '--force']).stderr)
      .toMatch(/copied and verified 6 AEADs from files to database: 6 AEAD rows .*replaced 6 existing rows/)

    // pyhsm's edge tree holds tampered and truncated AEADs: the copy is refused as a whole
    const before = await rowCount()
    const bad = cli(['keys', 'copy', '--from', 'files', '--to', 'database', '--aead-dir', fixturePath('aeads-edge')])
    expect(bad.status).toBe(1)
    expect(bad.stderr).toMatch(/AEADs in AEAD files under .*aeads-edge cannot be authenticated with the keyfile; nothing was copied/)
    expect(bad.stderr).toContain('cececececece')
    expect(await rowCount()).toBe(before)

    const rewrap = cli(['keys', 'rewrap', '--from-key-handle', '1', '--to-key-handle', '2'])
    expect(rewrap.status).toBe(2)
    expect(rewrap.stderr).toContain('keys rewrap works on the AEAD directory')
  })
})
