// Files written by our writer must be byte-identical to pyhsm's for the same inputs (import is
// deterministic; generate-keys is too once its random secret is known).
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { makeYubikeyAeadFile, nonceFromPublicId } from '../../src/ksm/aead-file.js'
import { walkAeadTree, writeAeadFile } from '../../src/ksm/file-store.js'
import { parseKeyHandle } from '../../src/ksm/key-handle.js'
import { parseKeyfile } from '../../src/ksm/keyfile.js'
import { padPublicId } from '../../src/ksm/public-id.js'
import { parseYkksmCsv } from '../../src/ksm/ykksm-csv.js'
import { credentials, fixturePath } from './fixtures.js'

const keys = parseKeyfile(readFileSync(fixturePath('keys-multi.json'), 'utf8'), 'keys-multi.json')
const out = mkdtempSync(path.join(tmpdir(), 'yubival-aeads-'))
afterAll(() => { rmSync(out, { recursive: true, force: true }) })

async function writeLikePyhsm (khTyped: string, fileId: string, nonce: Buffer, aesKeyHex: string, uidHex: string): Promise<string> {
  const kh = parseKeyHandle(khTyped).value
  const bytes = makeYubikeyAeadFile({ key: keys.get(kh)!, keyHandle: kh, nonce, aesKey: Buffer.from(aesKeyHex, 'hex'), privateUid: Buffer.from(uidHex, 'hex') })
  return writeAeadFile(out, khTyped, fileId, bytes)
}

function expectSameAsFixture (written: string): void {
  const rel = path.relative(out, written)
  expect(readFileSync(written).equals(readFileSync(fixturePath(path.join('aeads', rel)))), rel).toBe(true)
}

describe('regenerating fixtures/pyhsm/aeads with our writer', () => {
  it.each([['import.csv', '1'], ['import-kh2.csv', '2'], ['import-kh0x3.csv', '0x3']])('yhsm-import-keys < %s under key handle %s', async (csv, kh) => {
    const rows = parseYkksmCsv(readFileSync(fixturePath(csv), 'utf8'))
    for (const row of rows) {
      // file name padded with c, nonce from the unpadded id (ftftftcccc → ccftftftcccc, nonce 4d4d4d000000)
      const written = await writeLikePyhsm(kh, padPublicId(row.publicId), nonceFromPublicId(row.publicId), row.aesKey, row.privateUid)
      expect(written).toBe(path.join(out, kh, ...padPublicId(row.publicId).match(/../g)!, padPublicId(row.publicId)))
      expectSameAsFixture(written)
    }
  })

  it('the padded-name / unpadded-nonce case ccftftftcccc', () => {
    const file = readFileSync(path.join(out, '1/cc/ft/ft/ft/cc/cc/ccftftftcccc'))
    expect(file.subarray(18, 24).toString('hex')).toBe('4d4d4d000000')
  })

  it('the 0x3 folder holds a file whose header says key handle 3', () => {
    const file = readFileSync(path.join(out, '0x3/ee/ee/ee/ee/ee/ee/eeeeeeeeeeee'))
    expect(file.readUInt32LE(14)).toBe(3)
  })

  it('yhsm-generate-keys files: nonce = public id bytes (or the stored random nonce)', async () => {
    const generated = credentials().filter((c) => c.made_by.startsWith('yhsm-generate-keys'))
    expect(generated.length).toBe(7)
    for (const c of generated) {
      for (const f of c.aead_files) {
        const randomNonce = c.made_by.includes('--random-nonce')
        if (!randomNonce) expect(nonceFromPublicId(c.public_id).toString('hex')).toBe(f.nonce_used)
        const written = await writeLikePyhsm(f.key_handle_dir, c.public_id, Buffer.from(f.nonce_used, 'hex'), c.yubikey_aes_key, c.private_uid)
        expectSameAsFixture(written)
      }
    }
  })

  it('the whole regenerated tree lists exactly like the fixture tree', async () => {
    const list = async (dir: string): Promise<string[]> => {
      const items: string[] = []
      for await (const e of walkAeadTree(dir)) {
        expect(e.inPlace).toBe(true)
        items.push(`${e.keyHandleFolder} ${e.publicId} ${path.relative(dir, e.path)}`)
      }
      return items
    }
    const ours = await list(out)
    expect(ours).toHaveLength(14)
    expect(ours).toEqual(await list(fixturePath('aeads')))
    expect(statSync(path.join(out, '1/cr/ed/ti/vc/cc/cc/credtivccccc')).size).toBe(54)
  })
})
