// AEADs on the filesystem in pyhsm's layout (reference/ksm-pyhsm.md §1.4, §3.2).
import { promises as fsp } from 'node:fs'
import { randomBytes } from 'node:crypto'
import path from 'node:path'
import { isModhex } from '../otp/modhex.js'
import { AeadFileError, MAX_AEAD_FILE_READ, aeadRelativePath, parseAeadFile } from './aead-file.js'
import type { AeadLoadResult, AeadStore } from './aead-store.js'
import { parseKeyHandle, parseKeyHandles, type KeyHandle } from './key-handle.js'
import { AeadCache } from './aead-cache.js'
import { cachedAeadLoader } from './cached-aead-store.js'

export interface FileAeadStoreOptions {
  aeadDir: string
  /** Key handles as typed; each names a folder under aeadDir. Tried in this order. */
  keyHandles: readonly string[]
  /** How many parsed AEADs (ciphertext only, ~150 bytes each) to keep in memory; 0 disables the cache. */
  cacheSize: number
}

export interface FileAeadStore extends AeadStore {
  readonly aeadDir: string
  readonly keyHandles: readonly KeyHandle[]
  /** Forget a cached AEAD (after it was rewritten) or all of them. */
  invalidate (publicId?: string): void
}

// "Not here, try the next key handle": pyhsm treats every IOError so; we keep this to a missing
// file or a folder in its place, so that e.g. a permission problem is reported, not hidden.
const NOT_HERE = new Set(['ENOENT', 'ENOTDIR', 'EISDIR'])

/** The first MAX_AEAD_FILE_READ bytes of a file (all pyhsm ever reads of an AEAD file). */
export async function readAeadFileHead (file: string): Promise<Buffer> {
  const fh = await fsp.open(file, 'r')
  try {
    const buf = Buffer.alloc(MAX_AEAD_FILE_READ)
    const { bytesRead } = await fh.read(buf, 0, buf.length, 0)
    return buf.subarray(0, bytesRead)
  } finally {
    await fh.close()
  }
}

export function createFileAeadStore (opts: FileAeadStoreOptions): FileAeadStore {
  const keyHandles = parseKeyHandles(opts.keyHandles)
  const cache = new AeadCache(opts.cacheSize)
  const aeadDir = opts.aeadDir
  const fileOf = (folder: number, publicId: string): string => path.join(aeadDir, aeadRelativePath(keyHandles[folder]!.typed, publicId))

  async function loadFromDisk (publicId: string): Promise<AeadLoadResult> {
    const generation = cache.generation
    const tried: string[] = []
    for (const [folder, kh] of keyHandles.entries()) {
      const file = fileOf(folder, publicId)
      tried.push(file)
      let bytes: Buffer
      try {
        bytes = await readAeadFileHead(file)
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code
        if (code !== undefined && NOT_HERE.has(code)) continue
        return { status: 'unreadable', source: file, detail: `cannot read ${file}: ${code ?? String(err)}` }
      }
      try {
        const entry = parseAeadFile(bytes, { folderKeyHandle: kh.value, publicId })
        cache.set(publicId, entry, folder, generation)
        return { status: 'found', record: { ...entry, publicId, source: file } }
      } catch (err) {
        if (err instanceof AeadFileError) return { status: 'unreadable', source: file, detail: `${file}: ${err.message}` }
        throw err
      }
    }
    return { status: 'missing', tried }
  }

  return {
    aeadDir,
    keyHandles,
    ...cachedAeadLoader(cache, (publicId, hit) => fileOf(hit.folder, publicId), loadFromDisk)
  }
}

export class AeadExistsError extends Error {
  constructor (readonly file: string) {
    super(`AEAD file ${file} already exists (use --force to replace it)`)
    this.name = 'AeadExistsError'
  }
}

/**
 * Writes AEAD file bytes to `<aeadDir>/<kh as typed>/<pairs>/<publicId>` atomically: a temp file in the
 * same folder, then link (refuses to replace an existing file) or rename (with `force`).
 * Returns the final path.
 */
export async function writeAeadFile (aeadDir: string, keyHandleAsTyped: string, publicId: string, bytes: Uint8Array,
  opts: { force?: boolean } = {}): Promise<string> {
  parseKeyHandle(keyHandleAsTyped)
  if (!isModhex(publicId) || publicId === '') throw new Error('public id must be non-empty lower-case modhex')
  const file = path.join(aeadDir, aeadRelativePath(keyHandleAsTyped, publicId))
  const dir = path.dirname(file)
  await fsp.mkdir(dir, { recursive: true, mode: 0o750 })
  // a dot name is never modhex, so a left-over temp file is ignored by readers and the walker
  const tmp = path.join(dir, `.${publicId}.${randomBytes(6).toString('hex')}.tmp`)
  await fsp.writeFile(tmp, bytes, { mode: 0o640, flag: 'wx' })
  try {
    if (opts.force === true) {
      await fsp.rename(tmp, file)
    } else {
      try {
        await fsp.link(tmp, file)
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'EEXIST') throw new AeadExistsError(file)
        throw err
      }
    }
  } finally {
    await fsp.rm(tmp, { force: true })
  }
  return file
}

export interface AeadTreeEntry {
  publicId: string
  /** The top-level folder (a key handle as typed). */
  keyHandleFolder: string
  path: string
  /** False if the file is not where pyhsm's layout would put it (the KSM will never read it). */
  inPlace: boolean
}

/**
 * Every AEAD file under aeadDir (file name all modhex, like yhsm-decrypt-aead), sorted by folder
 * then path, as a stream so huge trees need little memory.
 */
export async function * walkAeadTree (aeadDir: string): AsyncGenerator<AeadTreeEntry> {
  const top = (await fsp.readdir(aeadDir, { withFileTypes: true }))
    .filter((d) => d.isDirectory())
    .map((d) => d.name)
    .sort()
  for (const folder of top) {
    yield * walkFolder(aeadDir, folder, path.join(aeadDir, folder))
  }
}

async function * walkFolder (aeadDir: string, folder: string, dir: string): AsyncGenerator<AeadTreeEntry> {
  const entries = (await fsp.readdir(dir, { withFileTypes: true })).sort((a, b) => a.name < b.name ? -1 : a.name > b.name ? 1 : 0)
  for (const d of entries) {
    const full = path.join(dir, d.name)
    if (d.isDirectory()) {
      yield * walkFolder(aeadDir, folder, full)
    } else if (d.isFile() && d.name !== '' && isModhex(d.name)) {
      const expected = path.join(aeadDir, aeadRelativePath(folder, d.name))
      yield { publicId: d.name, keyHandleFolder: folder, path: full, inPlace: expected === full }
    }
  }
}
