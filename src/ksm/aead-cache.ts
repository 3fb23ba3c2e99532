// The AEAD cache behind the file store, sized for 100,000+ keys: each entry is a 64-byte slot in shared
// slabs plus one Map entry (~150 bytes in all), instead of a record object with four Buffers and a path
// string (~1 KB). A hit rebuilds a small record; nothing a caller holds ever points into a slot, so a
// slot can be reused as soon as its entry is evicted.
import { AEAD_NONCE_BYTES } from './aead-codec.js'
import type { AeadEntry } from './aead-file.js'

const SLOT_BYTES = 64
const HEADER_BYTES = 1 + 1 + 1 + 4 + AEAD_NONCE_BYTES // aead length, version, folder index, key handle, nonce
/** Longest AEAD a slot holds (a YubiKey AEAD is 30 bytes, a version 0 file at most 48). */
export const MAX_CACHED_AEAD_BYTES = SLOT_BYTES - HEADER_BYTES
const SLOTS_PER_SLAB = 4096
const MAX_FOLDERS = 256

/** What the cache keeps of an AEAD: the entry and the index of the key-handle folder it came from. */
export interface CachedAead extends AeadEntry {
  folder: number
}

export class AeadCache {
  /** publicId → slot, oldest first (a hit moves it to the end). */
  private readonly slots = new Map<string, number>()
  private readonly slabs: Buffer[] = []
  private readonly free: number[] = []
  private used = 0

  constructor (readonly capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 0) throw new RangeError(`cache capacity must be a whole number >= 0, got ${capacity}`)
  }

  get size (): number {
    return this.slots.size
  }

  /** Whether `set` would keep this entry (odd sizes are simply not cached: they fail to decrypt anyway). */
  static fits (entry: AeadEntry, folder: number): boolean {
    return entry.aead.length <= MAX_CACHED_AEAD_BYTES && entry.nonce.length === AEAD_NONCE_BYTES &&
      Number.isInteger(folder) && folder >= 0 && folder < MAX_FOLDERS && entry.keyHandle >= 0 && entry.keyHandle <= 0xffffffff
  }

  private gen = 0

  get (publicId: string): CachedAead | undefined {
    const slot = this.slots.get(publicId)
    if (slot === undefined) return undefined
    this.slots.delete(publicId)
    this.slots.set(publicId, slot)
    const [slab, at] = this.locate(slot)
    const len = slab[at]!
    const nonceAt = at + 7
    return {
      version: slab[at + 1] === 0 ? 0 : 1,
      folder: slab[at + 2]!,
      keyHandle: slab.readUInt32LE(at + 3),
      nonce: Buffer.from(slab.subarray(nonceAt, nonceAt + AEAD_NONCE_BYTES)),
      aead: Buffer.from(slab.subarray(at + HEADER_BYTES, at + HEADER_BYTES + len))
    }
  }

  /**
   * Bumped by clear() and delete(): a load that started before (its `generation` is older) must not put
   * what it read back into the cache (SIGHUP, a replaced AEAD).
   */
  get generation (): number {
    return this.gen
  }

  set (publicId: string, entry: AeadEntry, folder: number, generation: number = this.gen): void {
    if (this.capacity === 0 || !AeadCache.fits(entry, folder) || generation !== this.gen) return
    let slot = this.slots.get(publicId)
    if (slot !== undefined) {
      this.slots.delete(publicId)
    } else if (this.slots.size >= this.capacity) {
      const oldest = this.slots.entries().next().value as [string, number]
      this.slots.delete(oldest[0])
      slot = oldest[1]
    } else {
      slot = this.free.pop() ?? this.used++
    }
    this.slots.set(publicId, slot)
    const [slab, at] = this.locate(slot)
    slab[at] = entry.aead.length
    slab[at + 1] = entry.version
    slab[at + 2] = folder
    slab.writeUInt32LE(entry.keyHandle, at + 3)
    slab.set(entry.nonce, at + 7)
    slab.set(entry.aead, at + HEADER_BYTES)
  }

  delete (publicId: string): void {
    this.gen++
    const slot = this.slots.get(publicId)
    if (slot === undefined) return
    this.slots.delete(publicId)
    this.free.push(slot)
  }

  clear (): void {
    this.gen++
    this.slots.clear()
    this.free.length = 0
    this.used = 0
  }

  private locate (slot: number): [Buffer, number] {
    const s = Math.floor(slot / SLOTS_PER_SLAB)
    // Slabs are allocated as the cache fills, so a small deployment with a large setting pays nothing.
    while (this.slabs.length <= s) this.slabs.push(Buffer.alloc(SLOTS_PER_SLAB * SLOT_BYTES))
    return [this.slabs[s]!, (slot % SLOTS_PER_SLAB) * SLOT_BYTES]
  }
}
