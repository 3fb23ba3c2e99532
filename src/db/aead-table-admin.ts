// The administrative side of aead_table (the key tools: write, list, locate, delete). The verify path
// reads it only through createAeadTableStore.
import type { Database, Queryable } from './database.js'
import { keyHandleFromColumn, keyHandleToColumn, toBuffer, type AeadRow } from './aead-table-store.js'

export interface AeadTableRow {
  publicId: string
  keyHandle: number
  nonce: Buffer
  aead: Buffer
}

export class AeadRowsExistError extends Error {
  constructor (readonly existing: Array<{ publicId: string, keyHandle: number }>, readonly total: number) {
    super(`${existing.length} of ${total} AEAD rows already exist in aead_table; nothing was written (use --force to replace them)`)
    this.name = 'AeadRowsExistError'
  }
}

const ADMIN_TIMEOUT_MS = 10 * 60_000
const BATCH = 1000

const fromRow = (r: AeadRow): AeadTableRow =>
  ({ publicId: r.public_id, keyHandle: keyHandleFromColumn(r.keyhandle), nonce: toBuffer(r.nonce), aead: toBuffer(r.aead) })

/**
 * Writes every row or none (one transaction). Without `force` any existing (public id, key handle)
 * refuses the whole run before anything is written.
 */
export async function insertAeadRows (db: Database, rows: readonly AeadTableRow[], opts: { force: boolean }): Promise<{ written: number, replaced: number }> {
  return db.transaction(async (tx) => {
    const existing: Array<{ publicId: string, keyHandle: number }> = []
    for (let i = 0; i < rows.length; i += BATCH) {
      const part = rows.slice(i, i + BATCH)
      const found = await tx.query<{ public_id: string, keyhandle: number }>(
        `SELECT t.public_id, t.keyhandle FROM aead_table t
           JOIN unnest($1::varchar[], $2::int[]) AS n(public_id, keyhandle) USING (public_id, keyhandle)`,
        [part.map((r) => r.publicId), part.map((r) => keyHandleToColumn(r.keyHandle))])
      existing.push(...found.rows.map((r) => ({ publicId: r.public_id, keyHandle: keyHandleFromColumn(r.keyhandle) })))
    }
    if (existing.length > 0 && !opts.force) throw new AeadRowsExistError(existing, rows.length)
    for (let i = 0; i < rows.length; i += BATCH) {
      const part = rows.slice(i, i + BATCH)
      const params: unknown[] = []
      const tuples = part.map((r, j) => {
        params.push(r.publicId, keyHandleToColumn(r.keyHandle), r.nonce, r.aead)
        return `($${4 * j + 1}, $${4 * j + 2}, $${4 * j + 3}, $${4 * j + 4})`
      })
      await tx.query(`INSERT INTO aead_table (public_id, keyhandle, nonce, aead) VALUES ${tuples.join(', ')}
        ON CONFLICT (public_id, keyhandle) DO UPDATE SET nonce = EXCLUDED.nonce, aead = EXCLUDED.aead`, params)
    }
    return { written: rows.length, replaced: existing.length }
  }, { timeoutMs: ADMIN_TIMEOUT_MS })
}

/** Every row, ordered by public id then key handle. */
export async function listAeadRows (db: Queryable): Promise<AeadTableRow[]> {
  const { rows } = await db.query<AeadRow>('SELECT public_id, keyhandle, nonce, aead FROM aead_table ORDER BY public_id, keyhandle')
  return rows.map(fromRow)
}

/** The rows of one public id (every key handle, configured or not). */
export async function aeadRowsOf (db: Queryable, publicId: string): Promise<AeadTableRow[]> {
  const { rows } = await db.query<AeadRow>(
    'SELECT public_id, keyhandle, nonce, aead FROM aead_table WHERE public_id = $1 ORDER BY keyhandle', [publicId])
  return rows.map(fromRow)
}

/** Deletes every row of a public id; returns the key handles that had one. */
export async function deleteAeadRows (db: Queryable, publicId: string): Promise<number[]> {
  const { rows } = await db.query<{ keyhandle: number }>('DELETE FROM aead_table WHERE public_id = $1 RETURNING keyhandle', [publicId])
  return rows.map((r) => keyHandleFromColumn(r.keyhandle)).sort((a, b) => a - b)
}
