// Where the key tools keep AEADs: the folder tree (pyhsm's layout) or the database's aead_table
// (YUBIVAL_AEAD_STORE=database). Commands talk to this interface, not to files or SQL.
import path from 'node:path'
import type { AeadStoreKind, Config } from '../../config.js'
import { AeadRowsExistError, aeadRowsOf, deleteAeadRows, insertAeadRows, listAeadRows, type AeadTableRow } from '../../db/aead-table-admin.js'
import { aeadRowSource } from '../../db/aead-table-store.js'
import type { Database } from '../../db/database.js'
import { parseAeadFile, walkAeadTree, type KeyHandle, type Keyfile } from '../../ksm/index.js'
import { aeadFoldersById, locateAeads, removeAeadFile } from '../admin/aead-locate.js'
import { withCliDatabase } from '../commands/migrate.js'
import { CliError } from '../errors.js'
import { plural } from './common.js'
import { openAeadEntry, openAeadFile, type OpenedAead } from './open-aead.js'
import { scanAeadTree } from './tree-scan.js'
import { writeAeadsWithProgress, type AeadToWrite } from './write-aeads.js'

export interface StoredAead {
  publicId: string
  /** The key handle folder as typed (files) or the row's key handle (database). */
  folder: string
  /** For messages: a path under the AEAD directory, or the table row. */
  where: string
  open: (keyfile: Keyfile) => Promise<OpenedAead>
}

export type RepositoryScanEntry =
  | ({ type: 'aead' } & StoredAead)
  /** Something the KSM never reads (wrong place, unconfigured key handle). */
  | { type: 'orphan', where: string, detail: string }

export interface AeadRepository {
  readonly kind: AeadStoreKind
  /** `AEAD files under DIR` / `aead_table (DATABASE)`, for messages. */
  readonly description: string
  /** `under DIR` / `in aead_table (…)`, for "no AEAD …" messages. */
  readonly location: string
  /** `N AEAD files under DIR` / `N AEAD rows in aead_table (…)`. */
  counted (n: number): string
  /** All or nothing; refuses existing entries without `force`. Returns the summary for people. */
  write (items: readonly AeadToWrite[], keyHandles: readonly KeyHandle[], force: boolean): Promise<string>
  /** Every stored AEAD (any key handle), ordered by key handle folder / public id. */
  all (): AsyncIterable<StoredAead>
  /** Every entry, classified against the configured key handles (what `keys check` reports). */
  scan (configured: readonly KeyHandle[]): AsyncIterable<RepositoryScanEntry>
  /** Public id → key handle folders holding an AEAD for it. */
  foldersById (): Promise<Map<string, string[]>>
  /** Key handle folders holding an AEAD for this public id. */
  locate (publicId: string): Promise<string[]>
  /** Deletes every AEAD of this public id; returns the folders it was in. */
  remove (publicId: string): Promise<string[]>
}

function fileRepository (aeadDir: string): AeadRepository {
  return {
    kind: 'files',
    description: `AEAD files under ${aeadDir}`,
    location: `under ${aeadDir}`,
    counted: (n) => `${plural(n, 'AEAD file')} under ${aeadDir}`,
    write: async (items, keyHandles, force) => writeAeadsWithProgress(aeadDir, keyHandles, items, force),
    async * all () {
      for await (const e of walkAeadTree(aeadDir)) {
        yield { publicId: e.publicId, folder: e.keyHandleFolder, where: e.path, open: async (kf) => openAeadFile(e.path, e.keyHandleFolder, e.publicId, kf) }
      }
    },
    async * scan (configured) {
      for await (const e of scanAeadTree(aeadDir, configured)) {
        if (e.type === 'orphan') yield { type: 'orphan', where: e.rel, detail: e.detail }
        else yield { type: 'aead', publicId: e.publicId, folder: e.folder, where: e.rel, open: async (kf) => openAeadFile(e.path, e.folder, e.publicId, kf) }
      }
    },
    foldersById: async () => aeadFoldersById(aeadDir),
    locate: async (publicId) => (await locateAeads(aeadDir, publicId)).map((l) => l.folder),
    async remove (publicId) {
      const found = await locateAeads(aeadDir, publicId)
      for (const loc of found) {
        try {
          await removeAeadFile(aeadDir, loc)
        } catch (err) {
          throw new CliError(`cannot delete ${loc.path}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`)
        }
      }
      return found.map((l) => l.folder)
    }
  }
}

const storedRow = (r: AeadTableRow): StoredAead => ({
  publicId: r.publicId,
  folder: String(r.keyHandle),
  where: aeadRowSource(r.publicId, r.keyHandle),
  open: async (kf) => openAeadEntry({ version: 1, keyHandle: r.keyHandle, nonce: r.nonce, aead: r.aead }, kf)
})

/** Table rows from file bytes: the key handle and nonce as the file's header gives them. */
function toRows (items: readonly AeadToWrite[]): AeadTableRow[] {
  const seen = new Set<string>()
  return items.map((a) => {
    const e = parseAeadFile(a.bytes, { folderKeyHandle: a.keyHandle.value, publicId: a.fileName })
    const key = `${a.fileName}/${e.keyHandle}`
    if (seen.has(key)) throw new CliError(`public id ${a.fileName} appears twice for key handle ${e.keyHandle}; nothing was written`)
    seen.add(key)
    return { publicId: a.fileName, keyHandle: e.keyHandle, nonce: e.nonce, aead: e.aead }
  })
}

function tableRepository (db: Database, where: string): AeadRepository {
  return {
    kind: 'database',
    description: `aead_table (${where})`,
    location: `in aead_table (${where})`,
    counted: (n) => `${plural(n, 'AEAD row')} in aead_table (${where})`,
    async write (items, keyHandles, force) {
      let result: { written: number, replaced: number }
      try {
        result = await insertAeadRows(db, toRows(items), { force })
      } catch (err) {
        if (!(err instanceof AeadRowsExistError)) throw err
        const shown = err.existing.slice(0, 10).map((e) => `  ${aeadRowSource(e.publicId, e.keyHandle)}`)
        if (err.existing.length > shown.length) shown.push(`  ... and ${err.existing.length - shown.length} more`)
        throw new CliError(`${err.message}:\n${shown.join('\n')}`)
      }
      const replaced = result.replaced > 0 ? `, replaced ${plural(result.replaced, 'existing row')}` : ''
      return `${plural(result.written, 'AEAD row')} in aead_table (${where}) ` +
        `for key handle${keyHandles.length === 1 ? '' : 's'} ${keyHandles.map((kh) => kh.typed).join(', ')}${replaced}`
    },
    async * all () {
      for (const r of await listAeadRows(db)) yield storedRow(r)
    },
    async * scan (configured) {
      const values = new Set(configured.map((kh) => kh.value))
      for (const r of await listAeadRows(db)) {
        if (values.has(r.keyHandle)) yield { type: 'aead', ...storedRow(r) }
        else yield { type: 'orphan', where: aeadRowSource(r.publicId, r.keyHandle), detail: 'key handle not configured (--key-handle / YUBIVAL_KEY_HANDLES), so the KSM never reads it' }
      }
    },
    async foldersById () {
      const byId = new Map<string, string[]>()
      for (const r of await listAeadRows(db)) byId.set(r.publicId, [...(byId.get(r.publicId) ?? []), String(r.keyHandle)])
      return byId
    },
    locate: async (publicId) => (await aeadRowsOf(db, publicId)).map((r) => String(r.keyHandle)),
    remove: async (publicId) => (await deleteAeadRows(db, publicId)).map(String)
  }
}

/**
 * Runs fn with the AEAD repository of `kind` (default: the configured YUBIVAL_AEAD_STORE). The database
 * one is open (and migrated) only while fn runs; errors become one-line CliErrors naming the database.
 */
export async function withAeadRepository<T> (config: Config, fn: (repo: AeadRepository) => Promise<T>,
  kind: AeadStoreKind = config.aeadStore): Promise<T> {
  if (kind === 'files') return fn(fileRepository(path.resolve(config.aeadDir)))
  const where = config.databaseUrl === null ? `embedded database in ${config.pgliteDir}` : 'PostgreSQL database'
  return withCliDatabase(config, async (db) => fn(tableRepository(db, where)))
}
