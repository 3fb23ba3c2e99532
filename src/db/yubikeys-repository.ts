import type { Queryable } from './database.js'
import type { AcceptRequest, AcceptResult, YubikeyRecord, YubikeyStore } from './types.js'

// The whole replay decision in one statement, so two requests carrying the same OTP can never both win
// (yubikey-val's read-check-update race, reference §3.5). An unseen key is inserted with the OTP's
// counters (first use accepted, as yubikey-val's auto-insert then update). On conflict PostgreSQL locks
// the row and evaluates the WHERE against its latest committed version: a concurrent winner is seen.
// Timestamps (low/high) never take part in the decision, only (counter, use).
/** The accept upsert without its RETURNING (the sync pool's statement builds on it). */
export const ACCEPT_UPSERT_SQL = `
INSERT INTO yubikeys AS y
  (active, created, modified, yk_publicname, yk_counter, yk_use, yk_low, yk_high, nonce, notes)
VALUES (TRUE, $2, $2, $1, $3, $4, $5, $6, $7, '')
ON CONFLICT (yk_publicname) DO UPDATE SET
  modified = EXCLUDED.modified,
  yk_counter = EXCLUDED.yk_counter,
  yk_use = EXCLUDED.yk_use,
  yk_low = EXCLUDED.yk_low,
  yk_high = EXCLUDED.yk_high,
  nonce = EXCLUDED.nonce
WHERE y.active
  AND (EXCLUDED.yk_counter > y.yk_counter
    OR (EXCLUDED.yk_counter = y.yk_counter AND EXCLUDED.yk_use > y.yk_use))`
const ACCEPT_SQL = `${ACCEPT_UPSERT_SQL}
RETURNING 1 AS accepted`

const GET_SQL = `
SELECT active, created, modified, yk_publicname, yk_counter, yk_use, yk_low, yk_high, nonce, notes
FROM yubikeys WHERE yk_publicname = $1`

export interface YubikeyRow {
  active: boolean | null
  created: number
  modified: number
  yk_publicname: string
  yk_counter: number
  yk_use: number
  yk_low: number
  yk_high: number
  nonce: string | null
  notes: string | null
}

export function toRecord (r: YubikeyRow): YubikeyRecord {
  return {
    publicId: r.yk_publicname,
    // yubikey-val's column is nullable; like yubikey-val (active != 1), NULL counts as disabled.
    active: r.active === true,
    created: r.created,
    modified: r.modified,
    counter: r.yk_counter,
    use: r.yk_use,
    low: r.yk_low,
    high: r.yk_high,
    nonce: r.nonce ?? '',
    notes: r.notes ?? ''
  }
}

export class YubikeysRepository implements YubikeyStore {
  constructor (private readonly db: Queryable) {}

  async accept (req: AcceptRequest): Promise<AcceptResult> {
    const { rows } = await this.db.query(ACCEPT_SQL,
      [req.publicId, req.now, req.counter, req.use, req.low, req.high, req.nonce], 'yubival_accept_otp')
    if (rows.length === 1) return { accepted: true }
    // Refused (replay or disabled key): the caller needs the row to tell REPLAYED_REQUEST from
    // REPLAYED_OTP from a disabled key. Off the hot path.
    return { accepted: false, current: await this.getYubikey(req.publicId) }
  }

  async getYubikey (publicId: string): Promise<YubikeyRecord | null> {
    const { rows } = await this.db.query<YubikeyRow>(GET_SQL, [publicId], 'yubival_get_yubikey')
    return rows[0] === undefined ? null : toRecord(rows[0])
  }
}
