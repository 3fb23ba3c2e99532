import type { ClientRecord, ClientStore } from './types.js'

export interface ClientCacheOptions {
  /** How long an answer may be reused, ms (config.clientCacheMs). 0 disables caching. */
  ttlMs: number
  /** Most clients kept (default 10000). */
  maxEntries?: number
  /** Most unknown ids kept (default 10000): separate, so random ids cannot evict real clients. */
  maxNegativeEntries?: number
  /** Clock, ms (tests inject one). */
  now?: () => number
}

interface Entry {
  value: ClientRecord | null
  expires: number
}

/** A Map used as a bounded cache: oldest insertion evicted first. */
class BoundedMap {
  private readonly map = new Map<number, Entry>()
  constructor (private readonly max: number) {}

  get (id: number): Entry | undefined { return this.map.get(id) }

  set (id: number, entry: Entry): void {
    if (this.max <= 0) return
    this.map.delete(id)
    this.map.set(id, entry)
    if (this.map.size > this.max) {
      const oldest = this.map.keys().next()
      if (oldest.done !== true) this.map.delete(oldest.value)
    }
  }

  delete (id: number): void { this.map.delete(id) }
  get size (): number { return this.map.size }
}

/**
 * Serves getClient from memory for at most ttlMs, so the database sees at most one lookup per client per
 * TTL per replica, while a client disabled (or a secret changed) in the database takes effect everywhere
 * within the TTL. Unknown ids are cached too. Concurrent lookups of the same id share one query.
 */
export class CachedClientStore implements ClientStore {
  private readonly found: BoundedMap
  private readonly missing: BoundedMap
  private readonly inflight = new Map<number, Promise<ClientRecord | null>>()
  private readonly now: () => number

  constructor (private readonly inner: ClientStore, private readonly opts: ClientCacheOptions) {
    this.found = new BoundedMap(opts.maxEntries ?? 10_000)
    this.missing = new BoundedMap(opts.maxNegativeEntries ?? 10_000)
    this.now = opts.now ?? Date.now
  }

  async getClient (id: number): Promise<ClientRecord | null> {
    if (this.opts.ttlMs <= 0) return this.inner.getClient(id)
    const t = this.now()
    const hit = this.found.get(id) ?? this.missing.get(id)
    if (hit !== undefined && hit.expires > t) return hit.value
    const pending = this.inflight.get(id)
    if (pending !== undefined) return pending
    const lookup = this.load(id, t)
    this.inflight.set(id, lookup)
    try {
      return await lookup
    } finally {
      this.inflight.delete(id)
    }
  }

  private async load (id: number, startedAt: number): Promise<ClientRecord | null> {
    const value = await this.inner.getClient(id)
    // The TTL counts from before the query: the database read happened later, so an answer is never
    // served more than ttlMs after the state it reflects (a slow query does not stretch it).
    const entry = { value, expires: startedAt + this.opts.ttlMs }
    this.found.delete(id)
    this.missing.delete(id)
    if (value === null) this.missing.set(id, entry)
    else this.found.set(id, entry)
    return value
  }

  /** Entries held (for tests and metrics). */
  get size (): { found: number, missing: number } {
    return { found: this.found.size, missing: this.missing.size }
  }
}
