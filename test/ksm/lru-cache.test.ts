import { describe, expect, it } from 'vitest'
import { LruCache } from '../../src/ksm/lru-cache.js'

describe('LruCache', () => {
  it('never holds more than its capacity', () => {
    const c = new LruCache<number, number>(100)
    for (let i = 0; i < 1000; i++) c.set(i, i)
    expect(c.size).toBe(100)
    expect(c.get(999)).toBe(999)
    expect(c.get(899)).toBeUndefined()
  })

  it('keeps entries that are used while others come and go', () => {
    const c = new LruCache<number, number>(100)
    for (let i = 0; i < 100; i++) c.set(i, i)
    for (let i = 100; i < 10_000; i++) {
      expect(c.get(0)).toBe(0) // the hot entry
      c.set(i, i)
    }
    expect(c.get(0)).toBe(0)
    expect(c.size).toBe(100)
  })

  it('evicts the least recently used entry at small sizes', () => {
    const c = new LruCache<string, number>(2)
    c.set('a', 1)
    c.set('b', 2)
    expect(c.get('a')).toBe(1)
    c.set('c', 3)
    expect(c.get('b')).toBeUndefined()
    expect(c.get('a')).toBe(1)
    expect(c.get('c')).toBe(3)
  })

  it('size 0 stores nothing; delete and clear forget', () => {
    const z = new LruCache<string, number>(0)
    z.set('a', 1)
    expect(z.get('a')).toBeUndefined()
    const c = new LruCache<string, number>(5)
    c.set('a', 1)
    c.set('b', 2)
    c.delete('a')
    expect(c.get('a')).toBeUndefined()
    c.clear()
    expect(c.size).toBe(0)
    expect(() => new LruCache(-1)).toThrow(RangeError)
  })
})
