// `yubival keys generate` (needs `npm run build`: spawns bin/yubival).
import { chmodSync, existsSync, readFileSync, statSync } from 'node:fs'
import path from 'node:path'
import { afterEach, beforeEach, describe, expect, test } from 'vitest'
import { openFileKsm } from '../../src/ksm/index.js'
import { yubiotpOtp } from '../helpers/yubiotp.js'
import {
  decodeAeadFile, keys, keysOk, layoutPath, listFiles, modhexToBuffer, parseYubikeyCsv, tempDir, type TempDir
} from './keys-env.js'

let t: TempDir
beforeEach(() => { t = tempDir() })
afterEach(() => { t.remove() })

const aeadDir = (): string => path.join(t.dir, 'data', 'aeads')
const base = (): string[] => ['--data-dir', path.join(t.dir, 'data')]

describe('yubival keys generate', () => {
  test('writes pyhsm-layout version 1 files, nonce = public id, ids counted as yhsm-generate-keys counts them', () => {
    const kf = t.keyfile()
    const out = keysOk(['generate', ...base(), '--keyfile', kf, '--start-public-id', 'credtivccccc', '--count', '5', '--print', 'csv'])
    const printed = parseYubikeyCsv(out)
    // the five ids yhsm-generate-keys made from credtivccccc in the fixture run
    const ids = ['credtivccccc', 'credtivccccb', 'credtivccccd', 'credtivcccce', 'credtivccccf']
    expect(printed.map((c) => [c.n, c.publicId])).toEqual(ids.map((id, i) => [i + 1, id]))
    expect(listFiles(aeadDir())).toEqual(ids.map((id) => layoutPath('1', id)).sort())
    for (const c of printed) {
      const file = path.join(aeadDir(), layoutPath('1', c.publicId))
      expect(statSync(file).size).toBe(54)
      const d = decodeAeadFile(file, kf)
      expect(d.keyHandle).toBe(1)
      expect(d.nonce.equals(modhexToBuffer(c.publicId))).toBe(true)
      expect([d.aesKeyHex, d.uidHex]).toEqual([c.keyHex, c.uidHex])
    }
    // fresh randomness per key
    expect(new Set(printed.map((c) => c.keyHex)).size).toBe(5)
    expect(new Set(printed.map((c) => c.uidHex)).size).toBe(5)
  })

  test('a decimal start id is a number (4711 → ccccccccbdhi, as in pyhsm)', () => {
    const kf = t.keyfile()
    const r = keys(['generate', ...base(), '--keyfile', kf, '--start-public-id', '4711'])
    expect(r.status).toBe(0)
    expect(r.stdout).toBe('')
    expect(listFiles(aeadDir())).toEqual([layoutPath('1', 'ccccccccbdhi')])
    expect(r.stderr).toMatch(/generated 1 key \(ccccccccbdhi\): 1 AEAD file under .* for key handle 1/)
  })

  test('round trip: generate → export → OTPs made with the exported secrets verify through the Ksm, under both key handles', async () => {
    const kf = t.keyfile('keys-multi.json')
    keysOk(['generate', ...base(), '--keyfile', kf, '--key-handle', '1,2', '--start-public-id', 'vvcccccccccb', '--count', '3'])
    const exported = parseYubikeyCsv(keysOk(['export', ...base(), '--keyfile', kf]))
    expect(exported.map((c) => c.publicId)).toEqual(['vvcccccccccb', 'vvcccccccccd', 'vvccccccccce'])
    for (const handles of [['1'], ['2']]) {
      const { ksm } = openFileKsm({ keyfile: kf, aeadDir: aeadDir(), keyHandles: handles, aeadCacheSize: 0 })
      for (const c of exported) {
        const otp = yubiotpOtp({ publicId: c.publicId, aesKeyHex: c.keyHex, privateUidHex: c.uidHex }, 7, 3)
        const res = await ksm.decrypt(otp)
        expect(res.ok, JSON.stringify(res)).toBe(true)
        if (res.ok) expect([res.fields.counter, res.fields.sessionUse, res.keyHandle]).toEqual([7, 3, Number(handles[0])])
      }
    }
  })

  test('refuses to overwrite: one existing target refuses the whole run and writes nothing; --force replaces', () => {
    const kf = t.keyfile()
    keysOk(['generate', ...base(), '--keyfile', kf, '--start-public-id', 'cccccccccccd', '--count', '2'])
    const before = listFiles(aeadDir()).map((f) => [f, readFileSync(path.join(aeadDir(), f)).toString('hex')])
    // ids b, d, e, f: d and e exist
    const r = keys(['generate', ...base(), '--keyfile', kf, '--start-public-id', 'cccccccccccb', '--count', '4', '--print', 'csv'])
    expect(r.status).not.toBe(0)
    expect(r.stdout).toBe('')
    expect(r.stderr).toContain('2 of 4 AEAD files already exist; nothing was written (use --force to replace them)')
    expect(r.stderr).toContain(layoutPath('1', 'cccccccccccd'))
    expect(listFiles(aeadDir()).map((f) => [f, readFileSync(path.join(aeadDir(), f)).toString('hex')])).toEqual(before)

    const forced = keys(['generate', ...base(), '--keyfile', kf, '--start-public-id', 'cccccccccccb', '--count', '4', '--force', '--print', 'csv'])
    expect(forced.status).toBe(0)
    expect(forced.stderr).toContain('replaced 2 existing files')
    expect(listFiles(aeadDir())).toHaveLength(4)
    for (const c of parseYubikeyCsv(forced.stdout)) {
      expect(decodeAeadFile(path.join(aeadDir(), layoutPath('1', c.publicId)), kf).aesKeyHex).toBe(c.keyHex)
    }
  })

  test('--random-nonce stores a random nonce (not the public id) that still opens the AEAD', () => {
    const kf = t.keyfile()
    const [c] = parseYubikeyCsv(keysOk(['generate', ...base(), '--keyfile', kf, '--start-public-id', 'credtivccccg', '--random-nonce', '--print', 'csv']))
    const d = decodeAeadFile(path.join(aeadDir(), layoutPath('1', 'credtivccccg')), kf)
    expect(d.nonce.equals(modhexToBuffer('credtivccccg'))).toBe(false)
    expect([d.aesKeyHex, d.uidHex]).toEqual([c!.keyHex, c!.uidHex])
  })

  test('--print ykpersonalize / ykman print programming commands for the same secrets as the files', () => {
    const kf = t.keyfile()
    const yp = keysOk(['generate', ...base(), '--keyfile', kf, '--start-public-id', 'vvccccccccbb', '--count', '2', '--print', 'ykpersonalize'])
    const ypLines = yp.trimEnd().split('\n')
    expect(ypLines).toHaveLength(2)
    for (const line of ypLines) {
      const m = /^ykpersonalize -1 -o fixed=(vvccccccccb[bd]) -o uid=([0-9a-f]{12}) -a([0-9a-f]{32})$/.exec(line)
      expect(m, line).not.toBeNull()
      const d = decodeAeadFile(path.join(aeadDir(), layoutPath('1', m![1]!)), kf)
      expect([d.uidHex, d.aesKeyHex]).toEqual([m![2], m![3]])
    }
    const ym = keysOk(['generate', ...base(), '--keyfile', kf, '--start-public-id', 'vvccccccccdb', '--print', 'ykman'])
    const m = /^ykman otp yubiotp 1 --public-id (vvccccccccdb) --private-id ([0-9a-f]{12}) --key ([0-9a-f]{32})\n$/.exec(ym)
    expect(m, ym).not.toBeNull()
    const d = decodeAeadFile(path.join(aeadDir(), layoutPath('1', 'vvccccccccdb')), kf)
    expect([d.uidHex, d.aesKeyHex]).toEqual([m![2], m![3]])
  })

  test.each([[['--key-handle', '1', '--key-handle', '2']], [['--key-handle', '1,2']]])('several key handles (%j): one AEAD per handle, same secret', (khArgs) => {
    const kf = t.keyfile('keys-multi.json')
    keysOk(['generate', ...base(), '--keyfile', kf, ...khArgs, '--start-public-id', 'credtivcccch'])
    expect(listFiles(aeadDir())).toEqual([layoutPath('1', 'credtivcccch'), layoutPath('2', 'credtivcccch')])
    const one = decodeAeadFile(path.join(aeadDir(), layoutPath('1', 'credtivcccch')), kf)
    const two = decodeAeadFile(path.join(aeadDir(), layoutPath('2', 'credtivcccch')), kf)
    expect([one.keyHandle, two.keyHandle]).toEqual([1, 2])
    expect([two.aesKeyHex, two.uidHex]).toEqual([one.aesKeyHex, one.uidHex])
  })

  test('a key handle that is not in the keyfile is refused before anything is written', () => {
    const kf = t.keyfile()
    const r = keys(['generate', ...base(), '--keyfile', kf, '--key-handle', '1,2', '--start-public-id', 'credtivcccch'])
    expect(r.status).toBe(1)
    expect(r.stderr).toContain(`keyfile ${kf} has no key for key handle 2`)
    expect(listFiles(aeadDir())).toEqual([])
  })

  test('creates the default keyfile (0400, says so) and AEAD folder (0700); the AEADs open with that key', () => {
    const r = keys(['generate', ...base(), '--start-public-id', 'cccccccccccb'])
    expect(r.status).toBe(0)
    const kf = path.join(t.dir, 'data', 'keys.json')
    expect(statSync(kf).mode & 0o777).toBe(0o400)
    expect(statSync(aeadDir()).mode & 0o777).toBe(0o700)
    expect(r.stderr).toContain(`created keyfile ${kf}`)
    expect(r.stderr).toMatch(/back it up/i)
    expect(Object.keys(JSON.parse(readFileSync(kf, 'utf8')) as object)).toEqual(['1'])
    expect(decodeAeadFile(path.join(aeadDir(), layoutPath('1', 'cccccccccccb')), kf).keyHandle).toBe(1)
    // a second run uses it and says nothing about creating it
    const again = keys(['generate', ...base(), '--start-public-id', 'cccccccccccd'])
    expect(again.status).toBe(0)
    expect(again.stderr).not.toContain('created keyfile')
  })

  test('a missing explicit keyfile is an error naming the file and the setting; nothing is created', () => {
    const kf = path.join(t.dir, 'nope', 'keys.json')
    const r = keys(['generate', ...base(), '--keyfile', kf, '--start-public-id', 'cccccccccccb'])
    expect(r.status).toBe(1)
    expect(r.stderr).toContain(`keyfile ${kf} does not exist`)
    expect(r.stderr).toContain('YUBIVAL_KEYFILE')
    expect(existsSync(kf)).toBe(false)
    expect(existsSync(path.join(t.dir, 'data'))).toBe(false)
  })

  test('a keyfile readable by others is refused unless explicitly allowed', () => {
    const kf = t.keyfile()
    chmodSync(kf, 0o644)
    const r = keys(['generate', ...base(), '--keyfile', kf, '--start-public-id', 'cccccccccccb'])
    expect(r.status).toBe(1)
    expect(r.stderr).toContain('has mode 0644')
    expect(listFiles(aeadDir())).toEqual([])
    const allowed = keys(['generate', ...base(), '--keyfile', kf, '--allow-insecure-keyfile', '--start-public-id', 'cccccccccccb'])
    expect(allowed.status).toBe(0)
    expect(allowed.stderr).toMatch(/WARNING: keyfile .* has mode 0644/)
  })

  test.each([
    [['--start-public-id', '0'], 'greater than 0', 2],
    [['--start-public-id', 'xyz'], 'neither a decimal number nor modhex', 2],
    [['--start-public-id', 'vvvvvvvvvvvv', '--count', '2'], 'runs past the largest', 2],
    [['--start-public-id', '1', '--count', '0'], '--count must be a whole number', 2],
    // commander's own usage errors exit 1
    [['--start-public-id', '1', '--print', 'yaml'], 'Allowed choices are csv, ykpersonalize, ykman', 1]
  ])('bad arguments %j are refused before anything is created', (args, message, status) => {
    const r = keys(['generate', ...base(), ...args])
    expect(r.status).toBe(status)
    expect(r.stderr).toContain(message)
    expect(existsSync(path.join(t.dir, 'data'))).toBe(false)
  })
})
