import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { aeadRelativePath, makeYubikeyAeadFile, nonceFromPublicId } from '../../src/ksm/aead-file.js'
import { AeadExistsError, createFileAeadStore, walkAeadTree, writeAeadFile } from '../../src/ksm/file-store.js'

let dir: string
beforeEach(() => { dir = mkdtempSync(path.join(tmpdir(), 'yubival-store-')) })
afterEach(() => { rmSync(dir, { recursive: true, force: true }) })

const KEY = Buffer.alloc(32, 7)
function fileFor (kh: number, publicId: string): Buffer {
  return makeYubikeyAeadFile({ key: KEY, keyHandle: kh, nonce: nonceFromPublicId(publicId), aesKey: Buffer.alloc(16, kh), privateUid: Buffer.alloc(6, kh) })
}
function place (khTyped: string, publicId: string, bytes: Buffer): string {
  const file = path.join(dir, aeadRelativePath(khTyped, publicId))
  mkdirSync(path.dirname(file), { recursive: true })
  writeFileSync(file, bytes)
  return file
}

describe('createFileAeadStore.load', () => {
  it('tries the key handles in order and uses the first file found', async () => {
    place('2', 'vvcccccccccc', fileFor(2, 'vvcccccccccc'))
    place('3', 'vvcccccccccc', fileFor(3, 'vvcccccccccc'))
    const r = await createFileAeadStore({ aeadDir: dir, keyHandles: ['1', '2', '3'], cacheSize: 0 }).load('vvcccccccccc')
    expect(r).toMatchObject({ status: 'found', record: { keyHandle: 2, version: 1, publicId: 'vvcccccccccc' } })
    if (r.status === 'found') expect(r.record.source).toBe(path.join(dir, '2/vv/cc/cc/cc/cc/cc/vvcccccccccc'))
  })

  it('treats a folder in place of the file, or a file in place of a folder, as "not here"', async () => {
    mkdirSync(path.join(dir, aeadRelativePath('1', 'vvcccccccccc')), { recursive: true })
    mkdirSync(path.join(dir, '2/vv/cc/cc/cc/cc'), { recursive: true })
    writeFileSync(path.join(dir, '2/vv/cc/cc/cc/cc/cc'), 'x')
    place('3', 'vvcccccccccc', fileFor(3, 'vvcccccccccc'))
    const r = await createFileAeadStore({ aeadDir: dir, keyHandles: ['1', '2', '3'], cacheSize: 0 }).load('vvcccccccccc')
    expect(r).toMatchObject({ status: 'found', record: { keyHandle: 3 } })
  })

  it('reports missing with every path tried', async () => {
    const r = await createFileAeadStore({ aeadDir: dir, keyHandles: ['1', '0x2'], cacheSize: 0 }).load('vvcccccccccc')
    expect(r).toEqual({ status: 'missing', tried: [path.join(dir, '1/vv/cc/cc/cc/cc/cc/vvcccccccccc'), path.join(dir, '0x2/vv/cc/cc/cc/cc/cc/vvcccccccccc')] })
  })

  it('stops at an unreadable file (other I/O errors) instead of trying the next key handle', async () => {
    const file = path.join(dir, aeadRelativePath('1', 'vvcccccccccc'))
    mkdirSync(path.dirname(file), { recursive: true })
    symlinkSync(file, file) // ELOOP, also for root (chmod 000 would not stop root)
    place('2', 'vvcccccccccc', fileFor(2, 'vvcccccccccc'))
    const r = await createFileAeadStore({ aeadDir: dir, keyHandles: ['1', '2'], cacheSize: 0 }).load('vvcccccccccc')
    expect(r).toMatchObject({ status: 'unreadable', source: file })
    if (r.status === 'unreadable') expect(r.detail).toMatch(/ELOOP/)
  })

  it('stops at an unparsable file (unknown version byte)', async () => {
    const bad = fileFor(1, 'vvcccccccccc')
    bad[13] = 9
    place('1', 'vvcccccccccc', bad)
    place('2', 'vvcccccccccc', fileFor(2, 'vvcccccccccc'))
    const r = await createFileAeadStore({ aeadDir: dir, keyHandles: ['1', '2'], cacheSize: 0 }).load('vvcccccccccc')
    expect(r).toMatchObject({ status: 'unreadable' })
    if (r.status === 'unreadable') expect(r.detail).toMatch(/version 9/)
  })

  it('refuses non-modhex public ids (they become paths)', async () => {
    const store = createFileAeadStore({ aeadDir: dir, keyHandles: ['1'], cacheSize: 0 })
    await expect(store.load('../../etc')).rejects.toThrow(/modhex/)
  })

  it('refuses bad key handles at creation', () => {
    expect(() => createFileAeadStore({ aeadDir: dir, keyHandles: ['1/2'], cacheSize: 0 })).toThrow(/folder/)
    expect(() => createFileAeadStore({ aeadDir: dir, keyHandles: [], cacheSize: 0 })).toThrow(/at least one/)
  })
})

describe('AEAD cache', () => {
  it('serves a cached AEAD without reading the file again; invalidate forgets it', async () => {
    const file = place('1', 'vvcccccccccc', fileFor(1, 'vvcccccccccc'))
    const store = createFileAeadStore({ aeadDir: dir, keyHandles: ['1'], cacheSize: 10 })
    expect((await store.load('vvcccccccccc')).status).toBe('found')
    unlinkSync(file)
    expect((await store.load('vvcccccccccc')).status).toBe('found')
    store.invalidate('vvcccccccccc')
    expect((await store.load('vvcccccccccc')).status).toBe('missing')
  })

  it('size 0 disables caching', async () => {
    const file = place('1', 'vvcccccccccc', fileFor(1, 'vvcccccccccc'))
    const store = createFileAeadStore({ aeadDir: dir, keyHandles: ['1'], cacheSize: 0 })
    expect((await store.load('vvcccccccccc')).status).toBe('found')
    unlinkSync(file)
    expect((await store.load('vvcccccccccc')).status).toBe('missing')
  })

  it('is bounded and evicts the least recently used entry', async () => {
    const ids = ['vvcccccccccb', 'vvcccccccccd', 'vvccccccccce']
    const files = ids.map((id) => place('1', id, fileFor(1, id)))
    const store = createFileAeadStore({ aeadDir: dir, keyHandles: ['1'], cacheSize: 2 })
    await store.load(ids[0]!)
    await store.load(ids[1]!)
    await store.load(ids[0]!) // ids[1] is now the oldest
    await store.load(ids[2]!) // evicts ids[1]
    files.forEach((f) => unlinkSync(f))
    expect((await store.load(ids[0]!)).status).toBe('found')
    expect((await store.load(ids[2]!)).status).toBe('found')
    expect((await store.load(ids[1]!)).status).toBe('missing')
  })

  it('holds ciphertext only: a cached record has no YubiKey key or uid', async () => {
    place('1', 'vvcccccccccc', fileFor(1, 'vvcccccccccc'))
    const r = await createFileAeadStore({ aeadDir: dir, keyHandles: ['1'], cacheSize: 10 }).load('vvcccccccccc')
    if (r.status !== 'found') throw new Error('not found')
    expect(Object.keys(r.record).sort()).toEqual(['aead', 'keyHandle', 'nonce', 'publicId', 'source', 'version'])
    expect(r.record.aead.includes(Buffer.alloc(6, 1))).toBe(false)
  })

  it('does not cache misses or unreadable files (a key added later is found)', async () => {
    const store = createFileAeadStore({ aeadDir: dir, keyHandles: ['1'], cacheSize: 10 })
    expect((await store.load('vvcccccccccc')).status).toBe('missing')
    place('1', 'vvcccccccccc', fileFor(1, 'vvcccccccccc'))
    expect((await store.load('vvcccccccccc')).status).toBe('found')
  })
})

describe('writeAeadFile', () => {
  it('creates the folders, writes atomically and leaves no temp file', async () => {
    const bytes = fileFor(1, 'vvcccccccccc')
    const file = await writeAeadFile(dir, '1', 'vvcccccccccc', bytes)
    expect(file).toBe(path.join(dir, '1/vv/cc/cc/cc/cc/cc/vvcccccccccc'))
    expect(readFileSync(file).equals(bytes)).toBe(true)
    expect(readdirSync(path.dirname(file))).toEqual(['vvcccccccccc'])
    expect(statSync(file).mode & 0o077 & ~0o040).toBe(0)
  })

  it('refuses to overwrite unless force', async () => {
    const first = fileFor(1, 'vvcccccccccc')
    const second = fileFor(2, 'vvcccccccccc')
    const file = await writeAeadFile(dir, '1', 'vvcccccccccc', first)
    await expect(writeAeadFile(dir, '1', 'vvcccccccccc', second)).rejects.toThrow(AeadExistsError)
    expect(readFileSync(file).equals(first)).toBe(true)
    await writeAeadFile(dir, '1', 'vvcccccccccc', second, { force: true })
    expect(readFileSync(file).equals(second)).toBe(true)
    expect(readdirSync(path.dirname(file))).toEqual(['vvcccccccccc'])
  })

  it('refuses bad key handles and public ids', async () => {
    await expect(writeAeadFile(dir, '../x', 'vvcccccccccc', Buffer.alloc(1))).rejects.toThrow(/folder/)
    await expect(writeAeadFile(dir, '1', 'VV', Buffer.alloc(1))).rejects.toThrow(/modhex/)
    await expect(writeAeadFile(dir, '1', '', Buffer.alloc(1))).rejects.toThrow(/modhex/)
  })
})

describe('walkAeadTree', () => {
  it('lists modhex-named files sorted, flags misplaced ones, ignores others', async () => {
    place('2', 'vvcccccccccc', fileFor(2, 'vvcccccccccc'))
    place('1', 'vvcccccccccb', fileFor(1, 'vvcccccccccb'))
    mkdirSync(path.join(dir, '1/stray'), { recursive: true })
    writeFileSync(path.join(dir, '1/stray/vvcccccccccd'), 'x')
    writeFileSync(path.join(dir, '1/vv/README.txt'), 'x')
    writeFileSync(path.join(dir, '1/vv/.vvcccccccccb.abc.tmp'), 'x')
    writeFileSync(path.join(dir, 'top-level-file'), 'x')
    const all = []
    for await (const e of walkAeadTree(dir)) all.push({ ...e, path: path.relative(dir, e.path) })
    expect(all).toEqual([
      { publicId: 'vvcccccccccd', keyHandleFolder: '1', path: '1/stray/vvcccccccccd', inPlace: false },
      { publicId: 'vvcccccccccb', keyHandleFolder: '1', path: '1/vv/cc/cc/cc/cc/cb/vvcccccccccb', inPlace: true },
      { publicId: 'vvcccccccccc', keyHandleFolder: '2', path: '2/vv/cc/cc/cc/cc/cc/vvcccccccccc', inPlace: true }
    ])
  })
})
