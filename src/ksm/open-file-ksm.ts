// Start-up wiring for the common case: JSON keyfile + AEAD folder tree, checked once, loudly.
import { statSync } from 'node:fs'
import { createFileAeadStore, type FileAeadStore } from './file-store.js'
import { loadKeyfile, type Keyfile } from './keyfile.js'
import { createKsm } from './ksm.js'
import type { Ksm } from './types.js'

export interface OpenFileKsmOptions {
  keyfile: string
  allowInsecureKeyfile?: boolean
  aeadDir: string
  keyHandles: readonly string[]
  aeadCacheSize: number
  warn?: (message: string) => void
}

export class KsmSetupError extends Error {
  constructor (message: string) {
    super(message)
    this.name = 'KsmSetupError'
  }
}

/** Loads the keyfile and opens the AEAD tree; throws KeyfileError / KeyHandleError / KsmSetupError. */
export function openFileKsm (opts: OpenFileKsmOptions): { ksm: Ksm, keyfile: Keyfile, store: FileAeadStore } {
  const keyfile = loadKeyfile(opts.keyfile, { allowInsecure: opts.allowInsecureKeyfile, warn: opts.warn })
  let isDir = false
  try {
    isDir = statSync(opts.aeadDir).isDirectory()
  } catch (err) {
    throw new KsmSetupError(`AEAD directory ${opts.aeadDir} cannot be used: ${(err as NodeJS.ErrnoException).code ?? String(err)}`)
  }
  if (!isDir) throw new KsmSetupError(`AEAD directory ${opts.aeadDir} is not a directory`)
  const store = createFileAeadStore({ aeadDir: opts.aeadDir, keyHandles: opts.keyHandles, cacheSize: opts.aeadCacheSize })
  for (const kh of store.keyHandles) {
    if (!keyfile.has(kh.value)) {
      // not fatal: a file's header names the key handle that is used, which may differ from its folder
      opts.warn?.(`key handle ${JSON.stringify(kh.typed)} (${kh.value}) is configured but not in keyfile ${opts.keyfile}; ` +
        'AEADs made with it will fail with unknown_key_handle')
    }
  }
  return { ksm: createKsm({ keyfile, store }), keyfile, store }
}
