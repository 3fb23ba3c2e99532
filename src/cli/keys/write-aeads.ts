// All-or-nothing writing of many AEAD files: check every target first, then write, and on a failure
// remove what this run created, so a refused or failed run leaves the tree as it was.
import { linkSync, lstatSync, mkdirSync, renameSync, rmdirSync, unlinkSync, writeFileSync } from 'node:fs'
import { randomBytes } from 'node:crypto'
import path from 'node:path'
import { aeadRelativePath, type KeyHandle } from '../../ksm/index.js'
import { CliError } from '../errors.js'
import { plural, progress } from './common.js'

export interface AeadToWrite {
  keyHandle: KeyHandle
  /** The file name (modhex public id, padded as the tool pads it). */
  fileName: string
  bytes: Buffer
}

export interface WriteOptions {
  force: boolean
  /** Called after each file is written (for a progress bar). */
  onWritten?: () => void
}

export interface WriteResult {
  written: number
  /** Files that existed and were replaced (only with force). */
  replaced: number
}

const SHOW_AT_MOST = 10
/** Let timers (the progress bar) run now and then during the synchronous loop. */
const YIELD_EVERY = 500

const target = (aeadDir: string, a: AeadToWrite): string => path.join(aeadDir, aeadRelativePath(a.keyHandle.typed, a.fileName))

function exists (file: string): boolean {
  try {
    lstatSync(file)
    return true
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    if (code === 'ENOENT' || code === 'ENOTDIR') return false
    throw new CliError(`cannot check ${file}: ${code ?? String(err)}`)
  }
}

function listPaths (paths: string[]): string {
  const shown = paths.slice(0, SHOW_AT_MOST).map((p) => `  ${p}`)
  if (paths.length > shown.length) shown.push(`  ... and ${paths.length - shown.length} more`)
  return shown.join('\n')
}

class ExistsError extends Error {
  constructor (readonly file: string) {
    super(`${file} already exists`)
  }
}

/**
 * The same file semantics as the library's writeAeadFile (temp file in the folder, then link, which
 * never replaces, or rename with `replace`; readers never see a partial file), done synchronously:
 * per-file promises made 100,000 keys take ~27 s, this loop ~10 s.
 */
function writeOne (file: string, bytes: Buffer, replace: boolean, tmpTag: string, madeDirs: Set<string>): void {
  const dir = path.dirname(file)
  if (!madeDirs.has(dir)) {
    mkdirSync(dir, { recursive: true, mode: 0o750 })
    madeDirs.add(dir)
  }
  // a dot name is never modhex: readers and the tree walkers ignore a left-over temp file
  const tmp = path.join(dir, `.${path.basename(file)}.${tmpTag}.tmp`)
  writeFileSync(tmp, bytes, { flag: 'wx', mode: 0o640 })
  try {
    if (replace) {
      renameSync(tmp, file)
    } else {
      try {
        linkSync(tmp, file)
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'EEXIST') throw new ExistsError(file)
        throw err
      }
    }
  } finally {
    try {
      unlinkSync(tmp)
    } catch {
      // renamed away
    }
  }
}

/** Removes a file this run created and the folders that became empty, up to the key handle folder. */
function removeCreated (aeadDir: string, a: AeadToWrite): void {
  const file = target(aeadDir, a)
  try {
    unlinkSync(file)
  } catch {
    return
  }
  const stop = path.join(aeadDir, a.keyHandle.typed)
  for (let dir = path.dirname(file); dir.startsWith(stop + path.sep); dir = path.dirname(dir)) {
    try {
      rmdirSync(dir)
    } catch {
      break
    }
  }
}

/**
 * Writes every AEAD or none. Without `force`, an existing target anywhere refuses the whole run before
 * anything is written (pyhsm silently overwrites, which has cost people their keys).
 */
export async function writeAeadsAllOrNothing (aeadDir: string, items: readonly AeadToWrite[], opts: WriteOptions): Promise<WriteResult> {
  const files = items.map((a) => target(aeadDir, a))
  const existed = files.map(exists)
  const existing = files.filter((_, i) => existed[i])
  if (existing.length > 0 && !opts.force) {
    throw new CliError(`${existing.length} of ${items.length} AEAD files already exist; nothing was written ` +
      `(use --force to replace them):\n${listPaths(existing)}`)
  }
  const tmpTag = `${process.pid}-${randomBytes(4).toString('hex')}`
  const madeDirs = new Set<string>()
  let done = 0
  try {
    for (; done < items.length; done++) {
      writeOne(files[done]!, items[done]!.bytes, existed[done]!, tmpTag, madeDirs)
      opts.onWritten?.()
      if (done % YIELD_EVERY === YIELD_EVERY - 1) await new Promise((resolve) => setImmediate(resolve))
    }
  } catch (err) {
    const created = items.slice(0, done).filter((_, i) => !existed[i])
    for (const a of created) removeCreated(aeadDir, a)
    const replaced = existed.slice(0, done).filter(Boolean).length
    const undone = `removed the ${created.length} file${created.length === 1 ? '' : 's'} this run had created` +
      (replaced > 0 ? `; ${replaced} existing file${replaced === 1 ? ' was' : 's were'} already replaced (--force) and cannot be restored` : '')
    if (err instanceof ExistsError) throw new CliError(`${err.file} appeared while writing (another process?); ${undone}`)
    const e = err as NodeJS.ErrnoException
    throw new CliError(`writing AEAD files failed at ${files[done]}: ${e.code ?? e.message ?? String(err)}; ${undone}`)
  }
  return { written: items.length, replaced: existing.length }
}

/**
 * writeAeadsAllOrNothing with a progress bar; returns what was done for the summary line:
 * `N AEAD files under DIR for key handle(s) …[, replaced N existing files]`.
 */
export async function writeAeadsWithProgress (aeadDir: string, keyHandles: readonly KeyHandle[], items: readonly AeadToWrite[],
  force: boolean): Promise<string> {
  const bar = progress('writing AEADs', items.length)
  let result: WriteResult
  try {
    result = await writeAeadsAllOrNothing(aeadDir, items, { force, onWritten: bar.tick })
  } finally {
    bar.stop()
  }
  const replaced = result.replaced > 0 ? `, replaced ${plural(result.replaced, 'existing file')}` : ''
  return `${plural(result.written, 'AEAD file')} under ${aeadDir} ` +
    `for key handle${keyHandles.length === 1 ? '' : 's'} ${keyHandles.map((kh) => kh.typed).join(', ')}${replaced}`
}
