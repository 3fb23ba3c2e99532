// `yubival keys import` (needs `npm run build`: spawns bin/yubival).
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { afterEach, beforeEach, describe, expect, test } from 'vitest'
import { fixturePath } from '../ksm/fixtures.js'
import { decodeAeadFile, keys, keysOk, layoutPath, listFiles, tempDir, type TempDir } from './keys-env.js'

let t: TempDir
beforeEach(() => { t = tempDir() })
afterEach(() => { t.remove() })

const aeadDir = (): string => path.join(t.dir, 'data', 'aeads')
const base = (): string[] => ['--data-dir', path.join(t.dir, 'data')]
const sameAsFixture = (rel: string): boolean =>
  readFileSync(path.join(aeadDir(), rel)).equals(readFileSync(fixturePath(path.join('aeads', rel))))

const GOOD = '1,dteffujehknh,0102030405a6,00112233445566778899aabbccddeeff,000000000000,,'

describe('yubival keys import', () => {
  test('reproduces the files yhsm-import-keys wrote, byte for byte (file, stdin, key handles 2 and 0x3)', () => {
    const kf = t.keyfile('keys-multi.json')
    const one = keys(['import', ...base(), '--keyfile', kf, fixturePath('import.csv')])
    expect(one.status, one.stderr).toBe(0)
    expect(one.stderr).toContain('imported 4 keys from')
    keysOk(['import', ...base(), '--keyfile', kf, '--key-handle', '2', '-'], readFileSync(fixturePath('import-kh2.csv'), 'utf8'))
    keysOk(['import', ...base(), '--keyfile', kf, '--key-handle', '0x3', fixturePath('import-kh0x3.csv')])
    const expected = [
      layoutPath('1', 'dteffujehknh'), layoutPath('1', 'ftftftftftft'), layoutPath('1', 'vvvvvvvvvvvv'),
      // 10-character id: file name padded with c, nonce from the id as written (checked by the bytes)
      layoutPath('1', 'ccftftftcccc'),
      layoutPath('2', 'dddddddddddd'), layoutPath('0x3', 'eeeeeeeeeeee')
    ]
    expect(listFiles(aeadDir())).toEqual([...expected].sort())
    for (const rel of expected) expect(sameAsFixture(rel), rel).toBe(true)
  })

  test('stdin is the default input', () => {
    const kf = t.keyfile()
    keysOk(['import', ...base(), '--keyfile', kf], `# ykksm 1\n${GOOD}\n`)
    expect(sameAsFixture(layoutPath('1', 'dteffujehknh'))).toBe(true)
  })

  test('bad lines: every problem is reported with its line and field, nothing is written (not even the keyfile)', () => {
    const csv = [
      '# ykksm 1',
      '# serialnr,identity,internaluid,aeskey,lockpw,created,accessed',
      GOOD,
      '2,ftftftftftfx,534543524554,fcacd309a20ce1809c2db257f0e8d6ea,000000000000,,',
      '3,vvvvvvvvvvvv,ffffffffff,ffeeddccbbaa99887766554433221100,000000000000,,',
      '4,vvvvvvvvvvvb,ffffffffffff,ffeeddccbbaa9988776655443322110,000000000000,,',
      '5,dteffujehknh,0102030405a6,00112233445566778899aabbccddeeff,000000000000,,',
      'only,two'
    ].join('\n') + '\n'
    const r = keys(['import', ...base()], csv)
    expect(r.status).toBe(1)
    expect(r.stderr).toContain('nothing imported (5 problems)')
    for (const where of ['line 4, identity', 'line 5, internaluid', 'line 6, aeskey', 'line 7, identity', 'line 8, line']) {
      expect(r.stderr).toContain(where)
    }
    expect(r.stderr).toContain('like line 3')
    // no key material in the message
    expect(r.stderr).not.toContain('ffeeddccbbaa99887766554433221100')
    expect(existsSync(path.join(t.dir, 'data'))).toBe(false)
  })

  test('a wrong header is refused', () => {
    const r = keys(['import', ...base(), '--keyfile', t.keyfile()], `# ykksm 2\n${GOOD}\n`)
    expect(r.status).toBe(1)
    expect(r.stderr).toContain('line 1, header')
    expect(listFiles(aeadDir())).toEqual([])
  })

  test('the all-zero public id is skipped with a warning, as yhsm-import-keys does; the rest is imported', () => {
    const kf = t.keyfile()
    const r = keys(['import', ...base(), '--keyfile', kf],
      `# ykksm 1\n9,cccccccccccc,0102030405a6,00112233445566778899aabbccddeeff,000000000000,,\n${GOOD}\n`)
    expect(r.status, r.stderr).toBe(0)
    expect(r.stderr).toMatch(/warning: line 2: skipping public id cccccccccccc/)
    expect(listFiles(aeadDir())).toEqual([layoutPath('1', 'dteffujehknh')])
  })

  test('never overwrites without --force; --force replaces (and says how many)', () => {
    const kf = t.keyfile()
    keysOk(['import', ...base(), '--keyfile', kf, fixturePath('import.csv')])
    const target = path.join(aeadDir(), layoutPath('1', 'ftftftftftft'))
    writeFileSync(target, 'something else')
    const r = keys(['import', ...base(), '--keyfile', kf, fixturePath('import.csv')])
    expect(r.status).toBe(1)
    expect(r.stderr).toContain('4 of 4 AEAD files already exist; nothing was written')
    expect(readFileSync(target, 'utf8')).toBe('something else')
    const forced = keys(['import', ...base(), '--keyfile', kf, '--force', fixturePath('import.csv')])
    expect(forced.status).toBe(0)
    expect(forced.stderr).toContain('replaced 4 existing files')
    expect(sameAsFixture(layoutPath('1', 'ftftftftftft'))).toBe(true)
  })

  test('a write that fails midway removes the files this run created (all or nothing)', () => {
    const kf = t.keyfile()
    // a plain file where vvvvvvvvvvvv's folder chain must go: the third of four writes fails
    mkdirSync(path.join(aeadDir(), '1'), { recursive: true })
    writeFileSync(path.join(aeadDir(), '1', 'vv'), 'in the way')
    const r = keys(['import', ...base(), '--keyfile', kf, fixturePath('import.csv')])
    expect(r.status).toBe(1)
    expect(r.stderr).toMatch(/writing AEAD files failed at .*vvvvvvvvvvvv: E\w+; removed the 2 files this run had created/)
    expect(listFiles(aeadDir())).toEqual([path.join('1', 'vv')])
    // the emptied folders went too
    expect(existsSync(path.join(aeadDir(), '1', 'dt'))).toBe(false)
  })

  test('imported credentials are what the CSV says (independent decoder)', () => {
    const kf = t.keyfile()
    keysOk(['import', ...base(), '--keyfile', kf, fixturePath('import.csv')])
    const d = decodeAeadFile(path.join(aeadDir(), layoutPath('1', 'ccftftftcccc')), kf)
    expect(d).toMatchObject({ keyHandle: 1, aesKeyHex: '0f0e0d0c0b0a09080706050403020100', uidHex: '4d014d024d03' })
    expect(d.nonce.toString('hex')).toBe('4d4d4d000000')
  })
})
