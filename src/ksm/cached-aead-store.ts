// The cache front both AEAD stores share (files, aead_table): modhex check, ciphertext cache lookup,
// then the store's own loader on a miss. Only ciphertext is cached, never an unwrapped key.
import { isModhex } from '../otp/modhex.js'
import { AeadCache, type CachedAead } from './aead-cache.js'
import type { AeadLoadResult, AeadRecord } from './aead-store.js'

export interface CachedAeadLoader {
  load (publicId: string): Promise<AeadLoadResult>
  peek (publicId: string): AeadRecord | undefined
  /** Forget a cached AEAD (after it changed) or all of them. */
  invalidate (publicId?: string): void
}

export function cachedAeadLoader (
  cache: AeadCache,
  sourceOf: (publicId: string, hit: CachedAead) => string,
  loadUncached: (publicId: string) => Promise<AeadLoadResult>
): CachedAeadLoader {
  function peek (publicId: string): AeadRecord | undefined {
    const hit = cache.get(publicId)
    if (hit === undefined) return undefined
    return { version: hit.version, keyHandle: hit.keyHandle, nonce: hit.nonce, aead: hit.aead, publicId, source: sourceOf(publicId, hit) }
  }
  return {
    async load (publicId: string): Promise<AeadLoadResult> {
      // The id becomes a path or a query value: only modhex may pass (no '/', no '..').
      if (!isModhex(publicId)) throw new Error('public id must be lower-case modhex')
      const hit = peek(publicId)
      if (hit !== undefined) return { status: 'found', record: hit }
      return loadUncached(publicId)
    },
    peek,
    invalidate (publicId?: string): void {
      if (publicId === undefined) cache.clear()
      else cache.delete(publicId)
    }
  }
}
