// src/cli/ksm-setup.ts in process: keyfile creation rules and setup errors as CliError.
import { chmodSync, existsSync, statSync } from 'node:fs'
import path from 'node:path'
import { afterEach, beforeEach, describe, expect, test } from 'vitest'
import { CliError } from '../../src/cli/errors.js'
import { openKsmFromConfig, prepareKeyfile } from '../../src/cli/ksm-setup.js'
import { loadConfig } from '../../src/config.js'
import { fixturePath } from '../ksm/fixtures.js'
import { tempDir, type TempDir } from './keys-env.js'

let t: TempDir
let said: string[]
const io = { info: (m: string) => { said.push(`info: ${m}`) }, warn: (m: string) => { said.push(`warn: ${m}`) } }
beforeEach(() => { t = tempDir(); said = [] })
afterEach(() => { t.remove() })

const config = (overrides: Parameters<typeof loadConfig>[1] = {}): ReturnType<typeof loadConfig> =>
  loadConfig({}, { dataDir: path.join(t.dir, 'data'), ...overrides })

function thrown (fn: () => unknown): CliError {
  try {
    fn()
  } catch (err) {
    expect(err).toBeInstanceOf(CliError)
    return err as CliError
  }
  throw new Error('did not throw')
}

describe('prepareKeyfile', () => {
  test('creates the default keyfile once (0400) and says where and to back it up', () => {
    const c = config()
    prepareKeyfile(c, io)
    expect(statSync(c.keyfile).mode & 0o777).toBe(0o400)
    expect(said).toHaveLength(1)
    expect(said[0]).toContain(`info: created keyfile ${c.keyfile}`)
    expect(said[0]).toContain('without it every AEAD is useless')
    prepareKeyfile(c, io)
    expect(said).toHaveLength(1)
  })

  test('an explicit keyfile that is missing is an error naming it and the setting', () => {
    const kf = path.join(t.dir, 'other.json')
    const err = thrown(() => { prepareKeyfile(config({ keyfile: kf }), io) })
    expect(err.message).toContain(`keyfile ${kf} does not exist`)
    expect(err.message).toContain('YUBIVAL_KEYFILE or --keyfile')
    expect(existsSync(kf)).toBe(false)
  })
})

describe('openKsmFromConfig', () => {
  test('creates the default keyfile and AEAD directory (0700) and returns a working KSM', async () => {
    const c = config()
    const { ksm, keyfile, store } = openKsmFromConfig(c, io)
    expect(statSync(c.aeadDir).mode & 0o777).toBe(0o700)
    expect([...keyfile.keys()]).toEqual([1])
    expect(store.keyHandles.map((kh) => kh.typed)).toEqual(['1'])
    expect((await ksm.decrypt('cccccccccccbcccccccccccccccccccccccccccccccc')).ok).toBe(false)
    expect(said.some((m) => m.includes('created AEAD directory'))).toBe(true)
  })

  test('an explicit AEAD directory that is missing is an error (not created)', () => {
    const dir = path.join(t.dir, 'aeads-elsewhere')
    const err = thrown(() => openKsmFromConfig(config({ aeadDir: dir }), io))
    expect(err.message).toBe(`AEAD directory ${dir} does not exist (set by YUBIVAL_AEAD_DIR or --aead-dir)`)
    expect(existsSync(dir)).toBe(false)
  })

  test('library errors become one-line CliErrors without key material', () => {
    const loose = t.keyfile('keys-multi.json')
    chmodSync(loose, 0o644)
    const bad = thrown(() => openKsmFromConfig(config({ keyfile: loose, aeadDir: fixturePath('aeads') }), io))
    expect(bad.message).toContain('has mode 0644')
    const kf = t.keyfile()
    const kh = thrown(() => openKsmFromConfig(config({ keyfile: kf, aeadDir: fixturePath('aeads'), keyHandles: ['1', '1'] }), io))
    expect(kh.exitCode).toBe(2)
    expect(kh.message).toContain('key handles (YUBIVAL_KEY_HANDLES / --key-handle)')
    for (const e of [bad, kh]) expect(e.message).not.toMatch(/000102030405/)
  })
})
