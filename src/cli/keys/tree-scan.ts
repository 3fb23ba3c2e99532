// Every entry of an AEAD tree, including what the KSM would never read (walkAeadTree skips those).
// Folders are listed synchronously (one leaf folder per AEAD: async readdir dominated the run time).
import { promises as fsp, readdirSync, type Dirent } from 'node:fs'
import path from 'node:path'
import { aeadRelativePath, type KeyHandle } from '../../ksm/index.js'
import { isModhex } from '../../otp/index.js'
import { folderKeyHandle } from './open-aead.js'

export type ScanEntry =
  /** A file where the layout puts it, in a configured key handle folder: to be authenticated. */
  | { type: 'aead', rel: string, path: string, folder: string, publicId: string }
  /** Something the KSM never reads. */
  | { type: 'orphan', rel: string, detail: string }

const byName = (a: Dirent, b: Dirent): number => a.name < b.name ? -1 : a.name > b.name ? 1 : 0

async function kindOf (dir: string, d: Dirent): Promise<'dir' | 'file' | 'other'> {
  if (d.isDirectory()) return 'dir'
  if (d.isFile()) return 'file'
  if (d.isSymbolicLink()) {
    // pyhsm opens through symlinks, so follow them too
    try {
      const st = await fsp.stat(path.join(dir, d.name))
      return st.isDirectory() ? 'dir' : st.isFile() ? 'file' : 'other'
    } catch {
      return 'other'
    }
  }
  return 'other'
}

async function * files (dir: string): AsyncGenerator<{ path: string, name: string, kind: 'file' | 'other' }> {
  for (const d of (readdirSync(dir, { withFileTypes: true })).sort(byName)) {
    const kind = await kindOf(dir, d)
    if (kind === 'dir') yield * files(path.join(dir, d.name))
    else yield { path: path.join(dir, d.name), name: d.name, kind }
  }
}

function whyNotAead (aeadDir: string, folder: string, file: { path: string, name: string, kind: string }): string | undefined {
  if (file.kind !== 'file') return 'not a regular file'
  if (file.name.startsWith('.') && file.name.endsWith('.tmp')) return 'left-over temporary file of an interrupted write'
  if (file.name === '' || !isModhex(file.name)) return 'file name is not a modhex public id'
  const expected = path.join(aeadDir, aeadRelativePath(folder, file.name))
  if (expected !== file.path) return `not where the layout puts public id ${file.name} (${path.relative(aeadDir, expected)})`
  return undefined
}

/** Walks aeadDir in sorted order, classifying each file; unconfigured folders are reported once each. */
export async function * scanAeadTree (aeadDir: string, configured: readonly KeyHandle[]): AsyncGenerator<ScanEntry> {
  const typed = new Set(configured.map((kh) => kh.typed))
  for (const d of (readdirSync(aeadDir, { withFileTypes: true })).sort(byName)) {
    const full = path.join(aeadDir, d.name)
    const kind = await kindOf(aeadDir, d)
    if (kind !== 'dir') {
      yield { type: 'orphan', rel: d.name, detail: 'not inside a key handle folder' }
      continue
    }
    if (!typed.has(d.name)) {
      let count = 0
      for await (const f of files(full)) if (f.kind === 'file') count++
      const what = folderKeyHandle(d.name) === undefined
        ? 'folder name is not a key handle'
        : 'key handle folder not configured (--key-handle / YUBIVAL_KEY_HANDLES), so the KSM never reads it'
      yield { type: 'orphan', rel: d.name + path.sep, detail: `${what}; holds ${count} file${count === 1 ? '' : 's'}` }
      continue
    }
    for await (const f of files(full)) {
      const rel = path.relative(aeadDir, f.path)
      const why = whyNotAead(aeadDir, d.name, f)
      if (why !== undefined) yield { type: 'orphan', rel, detail: why }
      else yield { type: 'aead', rel, path: f.path, folder: d.name, publicId: f.name }
    }
  }
}
