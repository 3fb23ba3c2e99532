// AEADs in the database (aead_table, the layout of pyhsm's SQL backend), for stateless replicas that
// share one PostgreSQL and keep only the keyfile locally. Same contract and cache as the file store.
import { AeadCache } from '../ksm/aead-cache.js'
import { cachedAeadLoader } from '../ksm/cached-aead-store.js'
import type { AeadLoadResult, AeadStore } from '../ksm/aead-store.js'
import { parseKeyHandles, type KeyHandle } from '../ksm/key-handle.js'
import type { Queryable } from './database.js'

export interface AeadTableStoreOptions {
  db: Queryable
  /** Key handles as typed; tried in this order (only their numeric values matter in the table). */
  keyHandles: readonly string[]
  /** How many AEADs (ciphertext only) to keep in memory; 0 disables the cache. */
  cacheSize: number
}

export interface AeadTableStore extends AeadStore {
  readonly keyHandles: readonly KeyHandle[]
  /** Forget a cached AEAD (after its row changed) or all of them. */
  invalidate (publicId?: string): void
}

export interface AeadRow {
  public_id: string
  keyhandle: number
  nonce: Uint8Array
  aead: Uint8Array
}

// keyhandle is a signed INT as in pyhsm's schema; key handles are uint32, so the top half is stored negative.
export const keyHandleToColumn = (kh: number): number => kh | 0
export const keyHandleFromColumn = (v: number | string): number => Number(v) >>> 0

/** Where a row is, for diagnostics: no secret in it. */
export const aeadRowSource = (publicId: string, keyHandle: number): string => `aead_table(public_id=${publicId}, keyhandle=${keyHandle})`

/** pg gives Buffers, PGlite plain Uint8Arrays: the codec wants Buffers. */
export const toBuffer = (b: Uint8Array): Buffer => Buffer.isBuffer(b) ? b : Buffer.from(b.buffer, b.byteOffset, b.byteLength)

export function createAeadTableStore (opts: AeadTableStoreOptions): AeadTableStore {
  const keyHandles = parseKeyHandles(opts.keyHandles)
  const values = keyHandles.map((kh) => kh.value)
  const cache = new AeadCache(opts.cacheSize)

  async function loadFromTable (publicId: string): Promise<AeadLoadResult> {
    const generation = cache.generation
    // One round trip for every key handle. pyhsm's SQL backend kept whichever row came last (no ORDER
    // BY); we pick the first configured key handle that has a row, as the file store does with folders.
    const { rows } = await opts.db.query<AeadRow>(
      'SELECT public_id, keyhandle, nonce, aead FROM aead_table WHERE public_id = $1 AND keyhandle = ANY($2::int[])',
      [publicId, values.map(keyHandleToColumn)], 'yubival_aead_load')
    for (const [folder, kh] of values.entries()) {
      const row = rows.find((r) => keyHandleFromColumn(r.keyhandle) === kh)
      if (row === undefined) continue
      const nonce = toBuffer(row.nonce)
      const aead = toBuffer(row.aead)
      const source = aeadRowSource(publicId, kh)
      if (nonce.length !== 6) return { status: 'unreadable', source, detail: `${source}: nonce is ${nonce.length} bytes, expected 6` }
      const entry = { version: 1 as const, keyHandle: kh, nonce, aead }
      cache.set(publicId, entry, folder, generation)
      return { status: 'found', record: { ...entry, publicId, source } }
    }
    return { status: 'missing', tried: values.map((kh) => aeadRowSource(publicId, kh)) }
  }

  return {
    keyHandles,
    ...cachedAeadLoader(cache, (publicId, hit) => aeadRowSource(publicId, hit.keyHandle), loadFromTable)
  }
}
