import { describe, expect, it } from 'vitest'
import { AeadCache, MAX_CACHED_AEAD_BYTES } from '../../src/ksm/aead-cache.js'
import type { AeadEntry } from '../../src/ksm/aead-file.js'

function entry (n: number, aeadBytes = 30): AeadEntry {
  return {
    version: n % 2 === 0 ? 1 : 0,
    keyHandle: 0x01020304 + n,
    nonce: Buffer.alloc(6, n & 0xff),
    aead: Buffer.from(Array.from({ length: aeadBytes }, (_, i) => (n * 7 + i) & 0xff))
  }
}

function expectEntry (cache: AeadCache, id: string, n: number, folder = 0): void {
  expect(cache.get(id)).toEqual({ ...entry(n), folder })
}

describe('AeadCache', () => {
  it('gives back exactly what was stored, as copies that later writes cannot change', () => {
    const c = new AeadCache(10)
    c.set('vvcccccccccb', entry(1), 3)
    const got = c.get('vvcccccccccb')
    expect(got).toEqual({ ...entry(1), folder: 3 })
    c.set('vvcccccccccb', entry(2), 0)
    expect(got).toEqual({ ...entry(1), folder: 3 })
    expectEntry(c, 'vvcccccccccb', 2)
    expect(c.size).toBe(1)
  })

  it('a load that started before clear() or delete() does not put its (maybe stale) AEAD back', () => {
    const c = new AeadCache(10)
    const started = c.generation
    c.clear()
    c.set('vvcccccccccb', entry(1), 0, started)
    expect(c.get('vvcccccccccb')).toBeUndefined()
    const again = c.generation
    c.delete('vvcccccccccd')
    c.set('vvcccccccccb', entry(1), 0, again)
    expect(c.get('vvcccccccccb')).toBeUndefined()
    c.set('vvcccccccccb', entry(2), 0, c.generation)
    expectEntry(c, 'vvcccccccccb', 2)
  })

  it('evicts the least recently used entry and reuses its slot without touching the others', () => {
    const c = new AeadCache(3)
    for (const n of [1, 2, 3]) c.set(`id${n}`, entry(n), 0)
    c.get('id1') // id2 is now the oldest
    c.set('id4', entry(4), 0)
    expect(c.get('id2')).toBeUndefined()
    expectEntry(c, 'id1', 1)
    expectEntry(c, 'id3', 3)
    expectEntry(c, 'id4', 4)
    expect(c.size).toBe(3)
  })

  it('keeps thousands of entries across slabs apart, and reuses deleted slots', () => {
    const c = new AeadCache(10_000)
    for (let n = 0; n < 10_000; n++) c.set(`k${n}`, entry(n), n % 5)
    for (let n = 0; n < 10_000; n += 997) expectEntry(c, `k${n}`, n, n % 5)
    c.delete('k5')
    c.set('new', entry(77), 1)
    expectEntry(c, 'new', 77, 1)
    expectEntry(c, 'k6', 6, 1)
    expect(c.get('k5')).toBeUndefined()
    expect(c.size).toBe(10_000)
  })

  it('does not cache what a slot cannot hold, or anything with capacity 0', () => {
    const c = new AeadCache(10)
    c.set('long', entry(1, MAX_CACHED_AEAD_BYTES + 1), 0)
    c.set('short-nonce', { ...entry(1), nonce: Buffer.alloc(5) }, 0)
    c.set('folder', entry(1), 256)
    expect(c.size).toBe(0)
    c.set('max', entry(1, MAX_CACHED_AEAD_BYTES), 255)
    expect(c.get('max')).toEqual({ ...entry(1, MAX_CACHED_AEAD_BYTES), folder: 255 })
    const none = new AeadCache(0)
    none.set('x', entry(1), 0)
    expect(none.get('x')).toBeUndefined()
    expect(() => new AeadCache(-1)).toThrow(RangeError)
  })

  it('clear forgets everything', () => {
    const c = new AeadCache(5)
    c.set('a', entry(1), 0)
    c.clear()
    expect(c.get('a')).toBeUndefined()
    c.set('b', entry(2), 0)
    expectEntry(c, 'b', 2)
  })
})
