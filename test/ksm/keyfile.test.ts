import { chmodSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync, mkdirSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { createDefaultKeyfile, KeyfileError, loadKeyfile, parseKeyfile } from '../../src/ksm/keyfile.js'
import { fixturePath } from './fixtures.js'

const KEY32 = '000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f'
const SECRET_HEX = 'deadbeefcafebabe'

let dir: string
beforeEach(() => { dir = mkdtempSync(path.join(tmpdir(), 'yubival-keyfile-')) })
afterEach(() => { rmSync(dir, { recursive: true, force: true }) })

function write (name: string, text: string, mode = 0o600): string {
  const file = path.join(dir, name)
  writeFileSync(file, text)
  chmodSync(file, mode)
  return file
}

function expectError (text: string, re: RegExp): void {
  let caught: unknown
  try { parseKeyfile(text, 'k.json') } catch (err) { caught = err }
  expect(caught).toBeInstanceOf(KeyfileError)
  const msg = (caught as Error).message
  expect(msg).toMatch(re)
  expect(msg).toContain('k.json')
  expect(msg).not.toContain(SECRET_HEX)
}

describe('parseKeyfile', () => {
  it('reads the fixture keyfiles: AES-256, AES-128 and AES-192 keys', () => {
    const multi = parseKeyfile(readFileSync(fixturePath('keys-multi.json'), 'utf8'), 'keys-multi.json')
    expect([...multi.keys()]).toEqual([1, 2, 3])
    expect(multi.get(1)!.toString('hex')).toBe(KEY32)
    expect(multi.get(2)!.length).toBe(16)
    expect(multi.get(3)!.length).toBe(24)
  })

  it('names key handles with Python int() rules: blanks, leading zeros, +', () => {
    const k = parseKeyfile(JSON.stringify({ ' 7 ': KEY32, '007 ': KEY32.slice(0, 32), '+8': KEY32.toUpperCase(), 4294967295: KEY32 }).replace('"007 "', '"0009"'), 'k')
    expect([...k.keys()].sort((a, b) => a - b)).toEqual([7, 8, 9, 4294967295])
  })

  it.each([
    ['{"1": "' + SECRET_HEX, /not valid JSON/],
    ['[]', /JSON object/],
    ['"x"', /JSON object/],
    ['null', /JSON object/],
    ['{}', /no key handles/],
    [`{"0x1": "${SECRET_HEX}${SECRET_HEX}${SECRET_HEX}${SECRET_HEX}"}`, /key handle "0x1": must be a decimal number/],
    [`{"KSM1": "${KEY32}"}`, /key handle "KSM1": must be a decimal/],
    [`{"4294967296": "${KEY32}"}`, /out of range/],
    [`{"-1": "${KEY32}"}`, /out of range/],
    [`{"1": "${KEY32}", "01": "${KEY32}"}`, /more than once/],
    ['{"1": 5}', /key handle "1": the key must be a string/],
    [`{"1": "${SECRET_HEX}${SECRET_HEX}${SECRET_HEX}${SECRET_HEX}0"}`, /key handle "1": the key has an odd number of hex digits/],
    [`{"2": "${SECRET_HEX}${SECRET_HEX}${SECRET_HEX}${SECRET_HEX.slice(0, -2)}zz"}`, /key handle "2": .*not a hex digit/],
    [`{"3": "${SECRET_HEX}${SECRET_HEX}  "}`, /not a hex digit/],
    [`{"1": "${SECRET_HEX}${SECRET_HEX}00"}`, /key handle "1": the key is 17 bytes; AES keys must be 16, 24 or 32 bytes/],
    ['{"1": ""}', /0 bytes/]
  ])('refuses %j naming the key handle, never echoing key material', (text, re) => {
    expectError(text, re)
  })
})

describe('loadKeyfile', () => {
  it('accepts modes 0600 and 0400', () => {
    expect(loadKeyfile(write('a.json', `{"1": "${KEY32}"}`, 0o600)).get(1)!.toString('hex')).toBe(KEY32)
    expect(loadKeyfile(write('b.json', `{"1": "${KEY32}"}`, 0o400)).size).toBe(1)
  })

  it.each([0o644, 0o640, 0o604, 0o660, 0o602])('refuses mode %o (group/others access)', (mode) => {
    const file = write('k.json', `{"1": "${KEY32}"}`, mode)
    expect(() => loadKeyfile(file)).toThrow(KeyfileError)
    expect(() => loadKeyfile(file)).toThrow(new RegExp(`${file}.*mode 0${mode.toString(8)}.*chmod 600`))
  })

  it('accepts a loose mode with allowInsecure, calling warn loudly', () => {
    const file = write('k.json', `{"1": "${KEY32}"}`, 0o644)
    const warnings: string[] = []
    const keys = loadKeyfile(file, { allowInsecure: true, warn: (m) => warnings.push(m) })
    expect(keys.size).toBe(1)
    expect(warnings).toHaveLength(1)
    expect(warnings[0]).toMatch(/WARNING.*0644/)
    expect(warnings[0]).not.toContain(KEY32)
  })

  it('does not warn for a safe file even with allowInsecure', () => {
    const warnings: string[] = []
    loadKeyfile(write('k.json', `{"1": "${KEY32}"}`), { allowInsecure: true, warn: (m) => warnings.push(m) })
    expect(warnings).toEqual([])
  })

  it('gives a clear error for a missing file, a folder, and parse errors with the path', () => {
    expect(() => loadKeyfile(path.join(dir, 'nope.json'))).toThrow(/nope\.json: does not exist/)
    const sub = path.join(dir, 'sub')
    mkdirSync(sub, { mode: 0o700 })
    expect(() => loadKeyfile(sub)).toThrow(/not a regular file/)
    expect(() => loadKeyfile(write('bad.json', '{"1": "abc'))).toThrow(/bad\.json: is not valid JSON/)
  })
})

describe('createDefaultKeyfile', () => {
  it('creates mode 0400 in a new 0700 folder with one fresh AES-256 key for key handle 1', () => {
    const file = path.join(dir, 'data', 'keys.json')
    const created = createDefaultKeyfile(file)
    expect(statSync(file).mode & 0o777).toBe(0o400)
    expect(statSync(path.dirname(file)).mode & 0o777).toBe(0o700)
    const loaded = loadKeyfile(file)
    expect([...loaded.keys()]).toEqual([1])
    expect(loaded.get(1)!.length).toBe(32)
    expect(loaded.get(1)!.equals(created.get(1)!)).toBe(true)
    // fresh randomness each time
    const other = createDefaultKeyfile(path.join(dir, 'other.json'))
    expect(other.get(1)!.equals(created.get(1)!)).toBe(false)
  })

  it('refuses to overwrite an existing file', () => {
    const file = write('keys.json', `{"1": "${KEY32}"}`)
    expect(() => createDefaultKeyfile(file)).toThrow(/already exists/)
    expect(readFileSync(file, 'utf8')).toContain(KEY32)
  })
})
