// A bounded least-recently-used map: Map keeps insertion order, so a hit is re-inserted at the end
// and the first key is always the oldest.

export class LruCache<K, V> {
  private readonly map = new Map<K, V>()

  constructor (readonly capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 0) throw new RangeError(`cache capacity must be a whole number >= 0, got ${capacity}`)
  }

  get size (): number {
    return this.map.size
  }

  get (key: K): V | undefined {
    const v = this.map.get(key)
    if (v !== undefined) {
      this.map.delete(key)
      this.map.set(key, v)
    }
    return v
  }

  set (key: K, value: V): void {
    if (this.capacity === 0) return
    this.map.delete(key)
    this.map.set(key, value)
    if (this.map.size > this.capacity) this.map.delete(this.map.keys().next().value as K)
  }

  delete (key: K): void {
    this.map.delete(key)
  }

  clear (): void {
    this.map.clear()
  }
}
