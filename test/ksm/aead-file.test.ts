import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { AeadFileError, aeadRelativePath, nonceFromPublicId, parseAeadFile, serialiseAeadFile } from '../../src/ksm/aead-file.js'
import { parseKeyHandle } from '../../src/ksm/key-handle.js'
import { aeadFiles, fixturePath } from './fixtures.js'

const files = aeadFiles()

describe('parseAeadFile on every fixture file (aead-files.json)', () => {
  it('covers both trees (22 files)', () => { expect(files).toHaveLength(22) })

  it.each(files.map((f) => [f.path, f] as const))('%s', (_p, f) => {
    const bytes = readFileSync(fixturePath(f.path))
    expect(bytes.toString('hex')).toBe(f.file_hex)
    const ctx = { folderKeyHandle: parseKeyHandle(f.key_handle_dir).value, publicId: f.public_id_from_name }
    if (f.format.startsWith('version 2')) {
      expect(() => parseAeadFile(bytes, ctx)).toThrow(AeadFileError)
      expect(() => parseAeadFile(bytes, ctx)).toThrow(/unknown AEAD file format version 2/)
      return
    }
    const e = parseAeadFile(bytes, ctx)
    expect(e.version).toBe(f.format.startsWith('version 0') ? 0 : 1)
    expect(e.keyHandle).toBe(f.key_handle_used)
    expect(e.nonce.toString('hex')).toBe(f.nonce_used)
    expect(e.aead.toString('hex')).toBe(f.aead_bytes)
    // where the tools put it
    expect(`${f.path.split('/')[0]}/${aeadRelativePath(f.key_handle_dir, f.public_id_from_name)}`).toBe(f.path)
  })

  it('serialises version 1 LF files byte-for-byte like pyhsm (54 bytes)', () => {
    const lf = files.filter((f) => f.format === 'version 1, LF marker' && f.file_size === 54)
    expect(lf.length).toBeGreaterThan(15)
    for (const f of lf) {
      const out = serialiseAeadFile(f.key_handle_used!, Buffer.from(f.nonce_used!, 'hex'), Buffer.from(f.aead_bytes!, 'hex'))
      expect(out.toString('hex')).toBe(f.file_hex)
    }
  })
})

describe('parseAeadFile edge cases', () => {
  const header = Buffer.from('YubiHSM AEAD\n', 'latin1')
  const ctx = { folderKeyHandle: 7, publicId: 'cbcbcbcbcbcb' }

  it('rejects a marker without version byte or with a truncated header', () => {
    expect(() => parseAeadFile(header, ctx)).toThrow(/no version byte/)
    expect(() => parseAeadFile(Buffer.concat([header, Buffer.from([1, 1, 0, 0])]), ctx)).toThrow(/truncated/)
  })

  it('reads an empty or short marker-less file as version 0 (the KSM then refuses its length)', () => {
    expect(parseAeadFile(Buffer.alloc(0), ctx)).toMatchObject({ version: 0, keyHandle: 7 })
    expect(parseAeadFile(Buffer.alloc(100, 1), ctx).aead.length).toBe(48)
  })

  it('a version 0 file needs a public id usable as a nonce', () => {
    expect(() => parseAeadFile(Buffer.alloc(30), { folderKeyHandle: 1, publicId: 'ccc' })).toThrow(AeadFileError)
    expect(() => parseAeadFile(Buffer.alloc(30), { folderKeyHandle: 1, publicId: 'cccccccccccccc' })).toThrow(AeadFileError)
  })

  it('reads at most 1024 bytes, like pyhsm', () => {
    const big = Buffer.concat([header, Buffer.from([1, 1, 0, 0, 0]), Buffer.alloc(6), Buffer.alloc(2000, 9)])
    expect(parseAeadFile(big, ctx).aead.length).toBe(1024 - 24)
  })
})

describe('paths and nonces', () => {
  it('puts every 2-character piece of the id into a folder, the last one too', () => {
    expect(aeadRelativePath('1', 'credtivccccc')).toBe('1/cr/ed/ti/vc/cc/cc/credtivccccc')
    expect(aeadRelativePath('0x3', 'eeeeeeeeeeee')).toBe('0x3/ee/ee/ee/ee/ee/ee/eeeeeeeeeeee')
    expect(aeadRelativePath('KSM1', 'ccr')).toBe('KSM1/cc/r/ccr')
    expect(aeadRelativePath('1', '')).toBe('1')
  })

  it('makes the nonce from the unpadded public id, right-padded with zeros', () => {
    expect(nonceFromPublicId('credtivccccc').toString('hex')).toBe('0c32d7f00000')
    expect(nonceFromPublicId('ftftftcccc').toString('hex')).toBe('4d4d4d000000')
    expect(nonceFromPublicId('').toString('hex')).toBe('000000000000')
  })
})
