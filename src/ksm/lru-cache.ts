// A bounded, approximately least-recently-used map. Map keeps insertion order, so the first key is the
// oldest; a hit is moved to the end only when it is no longer among the newest quarter of moves, which
// spares the delete + set on most hits of a hot entry (this sits on the verify hot path).

interface Slot<V> {
  value: V
  stamp: number
}

export class LruCache<K, V> {
  private readonly map = new Map<K, Slot<V>>()
  private tick = 0
  private readonly fresh: number

  constructor (readonly capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 0) throw new RangeError(`cache capacity must be a whole number >= 0, got ${capacity}`)
    this.fresh = capacity >> 2
  }

  get size (): number {
    return this.map.size
  }

  get (key: K): V | undefined {
    const slot = this.map.get(key)
    if (slot === undefined) return undefined
    if (this.tick - slot.stamp >= this.fresh) {
      this.map.delete(key)
      slot.stamp = ++this.tick
      this.map.set(key, slot)
    }
    return slot.value
  }

  set (key: K, value: V): void {
    if (this.capacity === 0) return
    this.map.delete(key)
    this.map.set(key, { value, stamp: ++this.tick })
    if (this.map.size > this.capacity) this.map.delete(this.map.keys().next().value as K)
  }

  delete (key: K): void {
    this.map.delete(key)
  }

  clear (): void {
    this.map.clear()
  }
}
