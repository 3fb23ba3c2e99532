// The database AEAD store on PGlite and PostgreSQL: pyhsm's fixture AEADs put into aead_table must
// decrypt pyhsm's recorded OTPs exactly as the file store does, with the first-configured-key-handle rule.
import { readFileSync } from 'node:fs'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { AeadRowsExistError, aeadRowsOf, deleteAeadRows, insertAeadRows, listAeadRows, type AeadTableRow } from '../../src/db/aead-table-admin.js'
import { createAeadTableStore } from '../../src/db/aead-table-store.js'
import { parseAeadFile } from '../../src/ksm/aead-file.js'
import { parseKeyfile } from '../../src/ksm/keyfile.js'
import { createKsm, formatKsmOkLine } from '../../src/ksm/ksm.js'
import { createTestDatabase, testBackends, type TestDatabase } from '../helpers/database.js'
import { aeadFiles, fixturePath, otpCases } from '../ksm/fixtures.js'

const keyfile = parseKeyfile(readFileSync(fixturePath('keys-multi.json'), 'utf8'), 'keys-multi.json')
const okCase = (id: string): { otp: string, line: string } => {
  const c = otpCases().cases.find((k) => k.server === 'S1' && k.case === `${id}-otp1`)!
  return { otp: c.otp!, line: c.ok_line_if_accepted! }
}

/** Every fixture AEAD file of both trees as a row (key handle and nonce as pyhsm reads them). */
function fixtureRows (): AeadTableRow[] {
  const rows = new Map<string, AeadTableRow>()
  for (const f of aeadFiles()) {
    if (f.key_handle_used === undefined) continue
    const kh = Number(/^0x/.test(f.key_handle_dir) ? parseInt(f.key_handle_dir, 16) : f.key_handle_dir)
    const e = parseAeadFile(Buffer.from(f.file_hex, 'hex'), { folderKeyHandle: kh, publicId: f.public_id_from_name })
    // keyed by the folder's key handle, as a table made from a tree by folder would be
    rows.set(`${f.public_id_from_name}/${kh}`, { publicId: f.public_id_from_name, keyHandle: kh, nonce: e.nonce, aead: e.aead })
  }
  return [...rows.values()]
}

describe.each(testBackends())('aead_table store on %s', (backend) => {
  let t: TestDatabase
  beforeAll(async () => {
    t = await createTestDatabase({ backend })
    await insertAeadRows(t.db, fixtureRows(), { force: false })
  })
  afterAll(async () => { await t.drop() })

  it('decrypts fixture OTPs to the recorded OK lines; bytea round-trips', async () => {
    const ksm = createKsm({ keyfile, store: createAeadTableStore({ db: t.db, keyHandles: ['1'], cacheSize: 10 }) })
    for (const id of ['dteffujehknh', 'credtivccccg', 'credtivcccch']) {
      const { otp, line } = okCase(id)
      const r = await ksm.decrypt(otp)
      expect(r.ok, id).toBe(true)
      if (r.ok) expect(formatKsmOkLine(r.fields)).toBe(line)
    }
    expect((await ksm.decrypt(okCase('dddddddddddd').otp))).toMatchObject({ ok: false, reason: 'unknown_key' })
  })

  it('uses the first configured key handle that has a row, never a later one', async () => {
    // chchchchchch: kh 1 row tampered, kh 2 row valid (fixture E-tree)
    const id = 'chchchchchch'
    const otp = otpCases().cases.find((c) => c.case === 'chchchchchch-otp1')!.otp!
    const first = createKsm({ keyfile, store: createAeadTableStore({ db: t.db, keyHandles: ['1', '2'], cacheSize: 0 }) })
    expect(await first.decrypt(otp)).toMatchObject({ ok: false, reason: 'aead_auth_failed', publicId: id })
    const second = createKsm({ keyfile, store: createAeadTableStore({ db: t.db, keyHandles: ['2', '1'], cacheSize: 0 }) })
    expect(await second.decrypt(otp)).toMatchObject({ ok: true, keyHandle: 2, source: `aead_table(public_id=${id}, keyhandle=2)` })
  })

  it('caches ciphertext like the file store: a cached AEAD survives its row until invalidated', async () => {
    const row = (await aeadRowsOf(t.db, 'vvvvvvvvvvvv'))[0]!
    const store = createAeadTableStore({ db: t.db, keyHandles: ['1'], cacheSize: 5 })
    expect(store.peek?.('vvvvvvvvvvvv')).toBeUndefined()
    expect((await store.load('vvvvvvvvvvvv')).status).toBe('found')
    expect(await deleteAeadRows(t.db, 'vvvvvvvvvvvv')).toEqual([1])
    expect(store.peek?.('vvvvvvvvvvvv')?.aead.equals(row.aead)).toBe(true)
    store.invalidate('vvvvvvvvvvvv')
    expect(await store.load('vvvvvvvvvvvv')).toEqual({ status: 'missing', tried: ['aead_table(public_id=vvvvvvvvvvvv, keyhandle=1)'] })
    await insertAeadRows(t.db, [row], { force: false })
  })

  it('insert is all or nothing: one existing row refuses the batch; force replaces', async () => {
    const before = await listAeadRows(t.db)
    const fresh = { publicId: 'bbbbbbbbbbbb', keyHandle: 1, nonce: Buffer.alloc(6, 1), aead: Buffer.alloc(30, 2) }
    const dup = { ...before[0]!, aead: Buffer.alloc(30, 3) }
    await expect(insertAeadRows(t.db, [fresh, dup], { force: false })).rejects.toBeInstanceOf(AeadRowsExistError)
    expect(await listAeadRows(t.db)).toEqual(before)
    expect(await insertAeadRows(t.db, [fresh, dup], { force: true })).toEqual({ written: 2, replaced: 1 })
    expect((await aeadRowsOf(t.db, dup.publicId)).find((r) => r.keyHandle === dup.keyHandle)!.aead).toEqual(dup.aead)
    await insertAeadRows(t.db, [before[0]!], { force: true })
    await deleteAeadRows(t.db, 'bbbbbbbbbbbb')
  })

  it('stores key handles above 2^31 (signed INT column) and reads them back unsigned', async () => {
    const row = { publicId: 'cbcbcbcbcbcc', keyHandle: 0xffffffff, nonce: Buffer.alloc(6), aead: Buffer.alloc(30) }
    await insertAeadRows(t.db, [row], { force: false })
    expect(await aeadRowsOf(t.db, row.publicId)).toEqual([row])
    const store = createAeadTableStore({ db: t.db, keyHandles: ['0xffffffff'], cacheSize: 0 })
    expect(await store.load(row.publicId)).toMatchObject({ status: 'found', record: { keyHandle: 0xffffffff } })
    await deleteAeadRows(t.db, row.publicId)
  })
})
