// Where a public id's AEADs are: one file per key handle folder, at the place pyhsm's layout puts it.
import { promises as fsp } from 'node:fs'
import path from 'node:path'
import { aeadRelativePath, walkAeadTree } from '../../ksm/index.js'
import { isModhex } from '../../otp/index.js'
import { CliError } from '../errors.js'

export interface AeadLocation {
  /** The top-level folder (a key handle as typed). */
  folder: string
  path: string
}

/** A PUBID argument: 1-16 lower-case modhex characters (the yubikeys column), else a usage error. */
export function parsePublicIdArg (raw: string): string {
  if (raw === '' || raw.length > 16 || !isModhex(raw)) {
    throw new CliError(`PUBID must be a public id (1-16 lower-case modhex characters), got ${JSON.stringify(raw)}`, 2)
  }
  return raw
}

async function topFolders (aeadDir: string): Promise<string[]> {
  try {
    return (await fsp.readdir(aeadDir, { withFileTypes: true })).filter((d) => d.isDirectory()).map((d) => d.name).sort()
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return []
    throw new CliError(`cannot read AEAD directory ${aeadDir}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`)
  }
}

/** The AEAD files of one public id, in every top-level folder of the tree (configured or not). */
export async function locateAeads (aeadDir: string, publicId: string): Promise<AeadLocation[]> {
  const found: AeadLocation[] = []
  for (const folder of await topFolders(aeadDir)) {
    const file = path.join(aeadDir, aeadRelativePath(folder, publicId))
    try {
      if ((await fsp.lstat(file)).isFile()) found.push({ folder, path: file })
    } catch {
      // not in this folder
    }
  }
  return found
}

/** Public id → folders holding its AEAD (files where the layout puts them), for the whole tree. */
export async function aeadFoldersById (aeadDir: string): Promise<Map<string, string[]>> {
  const byId = new Map<string, string[]>()
  if ((await topFolders(aeadDir)).length === 0) return byId
  for await (const e of walkAeadTree(aeadDir)) {
    if (!e.inPlace) continue
    const list = byId.get(e.publicId)
    if (list === undefined) byId.set(e.publicId, [e.keyHandleFolder])
    else list.push(e.keyHandleFolder)
  }
  return byId
}

/** Deletes a file and then its folders up to (not including) the key handle folder, while they are empty. */
export async function removeAeadFile (aeadDir: string, loc: AeadLocation): Promise<void> {
  await fsp.unlink(loc.path)
  const stop = path.join(aeadDir, loc.folder)
  for (let dir = path.dirname(loc.path); dir.startsWith(stop + path.sep); dir = path.dirname(dir)) {
    try {
      await fsp.rmdir(dir)
    } catch {
      break
    }
  }
}
