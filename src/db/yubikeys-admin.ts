// The administrative side of the yubikeys table (list, revoke, reset, delete, ykval-import). The verify
// path touches it only through YubikeysRepository.accept, which checks `active` in the same statement,
// so every change here takes effect on the next OTP on every replica.
import type { Database, Queryable } from './database.js'
import type { YubikeyRecord } from './types.js'
import { toRecord as record, type YubikeyRow } from './yubikeys-repository.js'

const COLUMNS = 'active, created, modified, yk_publicname, yk_counter, yk_use, yk_low, yk_high, nonce, notes'

const ADMIN_TIMEOUT_MS = 5 * 60_000

/** Every row ordered by public id: what ykval-export prints. */
export async function listYubikeys (db: Queryable): Promise<YubikeyRecord[]> {
  const { rows } = await db.query<YubikeyRow>(`SELECT ${COLUMNS} FROM yubikeys ORDER BY yk_publicname`)
  return rows.map(record)
}

export type YubikeyChange = 'changed' | 'unchanged' | 'inserted' | 'missing'

/**
 * Sets `active`. A key without a row (never used) gets one when `insertAt` (Unix s) is given: counters
 * -1 ("never seen", as yubikey-val's auto-insert), so disabling works before a key is first used.
 */
export async function setYubikeyActive (db: Queryable, publicId: string, active: boolean, insertAt?: number): Promise<YubikeyChange> {
  const changed = await db.query(
    'UPDATE yubikeys SET active = $2 WHERE yk_publicname = $1 AND active IS DISTINCT FROM $2 RETURNING 1', [publicId, active])
  if (changed.rows.length > 0) return 'changed'
  if (insertAt !== undefined) {
    const inserted = await db.query(
      `INSERT INTO yubikeys (${COLUMNS}) VALUES ($2, $3, -1, $1, -1, -1, -1, -1, '', '')
       ON CONFLICT (yk_publicname) DO NOTHING RETURNING 1`, [publicId, active, insertAt])
    if (inserted.rows.length > 0) return 'inserted'
  }
  const { rows } = await db.query('SELECT 1 FROM yubikeys WHERE yk_publicname = $1', [publicId])
  return rows.length > 0 ? 'unchanged' : 'missing'
}

/**
 * Forgets the counters (-1 = never seen), so the next OTP is accepted whatever its counter: for a
 * reprogrammed YubiKey whose new counters start below the stored ones. Returns the row as it was.
 */
export async function resetYubikeyCounters (db: Database, publicId: string): Promise<YubikeyRecord | null> {
  return db.transaction(async (tx) => {
    const { rows } = await tx.query<YubikeyRow>(`SELECT ${COLUMNS} FROM yubikeys WHERE yk_publicname = $1 FOR UPDATE`, [publicId])
    if (rows[0] === undefined) return null
    await tx.query(`UPDATE yubikeys SET yk_counter = -1, yk_use = -1, yk_low = -1, yk_high = -1, nonce = ''
      WHERE yk_publicname = $1`, [publicId])
    return record(rows[0])
  })
}

export async function deleteYubikeyRow (db: Queryable, publicId: string): Promise<boolean> {
  const { rows } = await db.query('DELETE FROM yubikeys WHERE yk_publicname = $1 RETURNING 1', [publicId])
  return rows.length > 0
}

export interface YubikeyImportResult {
  inserted: string[]
  /** Existing keys whose counters the import raised (every column then taken from the import). */
  updated: string[]
  /** Existing keys whose stored counters are as high or higher: left as they are. */
  unchanged: string[]
}

/**
 * ykval-import in one statement: new public ids are inserted; an existing row is overwritten only if
 * the imported (counter, use) is higher than the stored one, so counters are only ever raised.
 * `rows` must have unique public ids (validated by the caller).
 */
export async function importYubikeys (db: Database, rows: readonly YubikeyRecord[]): Promise<YubikeyImportResult> {
  if (rows.length === 0) return { inserted: [], updated: [], unchanged: [] }
  return db.transaction(async (tx) => {
    const { rows: done } = await tx.query<{ yk_publicname: string, inserted: boolean }>(
      `INSERT INTO yubikeys AS y (${COLUMNS})
       SELECT * FROM unnest($1::boolean[], $2::int[], $3::int[], $4::text[], $5::int[], $6::int[], $7::int[], $8::int[],
         $9::text[], $10::text[])
       ON CONFLICT (yk_publicname) DO UPDATE SET active = EXCLUDED.active, created = EXCLUDED.created,
         modified = EXCLUDED.modified, yk_counter = EXCLUDED.yk_counter, yk_use = EXCLUDED.yk_use,
         yk_low = EXCLUDED.yk_low, yk_high = EXCLUDED.yk_high, nonce = EXCLUDED.nonce, notes = EXCLUDED.notes
       WHERE EXCLUDED.yk_counter > y.yk_counter OR (EXCLUDED.yk_counter = y.yk_counter AND EXCLUDED.yk_use > y.yk_use)
       RETURNING yk_publicname, (xmax = 0) AS inserted`,
      [rows.map((r) => r.active), rows.map((r) => r.created), rows.map((r) => r.modified), rows.map((r) => r.publicId),
        rows.map((r) => r.counter), rows.map((r) => r.use), rows.map((r) => r.low), rows.map((r) => r.high),
        rows.map((r) => r.nonce), rows.map((r) => r.notes)])
    const inserted = new Set(done.filter((d) => d.inserted).map((d) => d.yk_publicname))
    const updated = new Set(done.filter((d) => !d.inserted).map((d) => d.yk_publicname))
    return {
      inserted: rows.filter((r) => inserted.has(r.publicId)).map((r) => r.publicId),
      updated: rows.filter((r) => updated.has(r.publicId)).map((r) => r.publicId),
      unchanged: rows.filter((r) => !inserted.has(r.publicId) && !updated.has(r.publicId)).map((r) => r.publicId)
    }
  }, { timeoutMs: ADMIN_TIMEOUT_MS })
}
