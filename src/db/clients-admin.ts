// The administrative side of the clients table (list, enable/disable, rotate, import): the verify path
// only reads clients, through ClientsRepository.
import { randomBytes, timingSafeEqual } from 'node:crypto'
import { withAdvisoryLock, type Database, type Queryable } from './database.js'
import type { ClientRecord } from './types.js'

/** A client without its secret: what lists show. */
export type ClientSummary = Omit<ClientRecord, 'secret'>

interface SummaryRow {
  id: number
  active: boolean | null
  created: number
  email: string | null
  notes: string | null
  otp: string | null
}

const summary = (r: SummaryRow): ClientSummary => ({
  id: r.id,
  // NULL is not active, as in yubikey-val (`active == 1`)
  active: r.active === true,
  created: r.created,
  email: r.email,
  notes: r.notes ?? '',
  otp: r.otp ?? ''
})

// Imports may be large and may wait for a concurrent `clients gen`: not bound by the verify timeout.
const ADMIN_TIMEOUT_MS = 5 * 60_000

export async function listClients (db: Queryable): Promise<ClientSummary[]> {
  const { rows } = await db.query<SummaryRow>('SELECT id, active, created, email, notes, otp FROM clients ORDER BY id')
  return rows.map(summary)
}

/** Every column, secrets included, ordered by id: what ykval-export-clients prints. */
export async function exportClients (db: Queryable): Promise<ClientRecord[]> {
  const { rows } = await db.query<SummaryRow & { secret: string }>(
    'SELECT id, active, created, secret, email, notes, otp FROM clients ORDER BY id')
  return rows.map((r) => ({ ...summary(r), secret: r.secret }))
}

export type ChangeResult = 'changed' | 'unchanged' | 'missing'

/** Sets the active flag; takes effect on every replica once their client caches expire (YUBIVAL_CLIENT_CACHE_MS). */
export async function setClientActive (db: Queryable, id: number, active: boolean): Promise<ChangeResult> {
  const changed = await db.query('UPDATE clients SET active = $2 WHERE id = $1 AND active IS DISTINCT FROM $2 RETURNING id', [id, active])
  if (changed.rows.length > 0) return 'changed'
  const { rows } = await db.query('SELECT 1 FROM clients WHERE id = $1', [id])
  return rows.length > 0 ? 'unchanged' : 'missing'
}

/** A fresh key for the client (base64 of 20 random bytes, like ykval-gen-clients); null if there is no such client. */
export async function rotateClientSecret (db: Queryable, id: number): Promise<string | null> {
  const secret = randomBytes(20).toString('base64')
  const { rows } = await db.query('UPDATE clients SET secret = $2 WHERE id = $1 RETURNING id', [id, secret])
  return rows.length === 0 ? null : secret
}

export interface ClientImportRow extends ClientRecord {
  /** Line of the input, for messages. */
  line: number
}

export interface ClientImportResult {
  inserted: number[]
  /** Existing ids with the same secret: left as they are. */
  unchanged: number[]
  /** Existing ids with another secret, overwritten (only with `replace`). */
  replaced: number[]
}

/** Existing ids whose stored secret differs from the imported one; nothing was written. */
export class ClientConflictError extends Error {
  constructor (readonly conflicts: ReadonlyArray<{ id: number, line: number }>) {
    super(`${conflicts.length} client id${conflicts.length === 1 ? '' : 's'} already exist with a different secret`)
    this.name = 'ClientConflictError'
  }
}

function sameSecret (a: string, b: string): boolean {
  const x = Buffer.from(a, 'utf8')
  const y = Buffer.from(b, 'utf8')
  return x.length === y.length && timingSafeEqual(x, y)
}

const COLUMNS = (rows: readonly ClientRecord[]): unknown[] => [
  rows.map((r) => r.id), rows.map((r) => r.active), rows.map((r) => r.created), rows.map((r) => r.secret),
  rows.map((r) => r.email ?? ''), rows.map((r) => r.notes), rows.map((r) => r.otp)
]
const UNNEST = 'unnest($1::int[], $2::boolean[], $3::int[], $4::text[], $5::text[], $6::text[], $7::text[]) ' +
  'AS n(id, active, created, secret, email, notes, otp)'

/**
 * Imports rows (ids unique, already validated) in one transaction: new ids are inserted with every
 * column as given; an existing id with the same secret is left alone; one with another secret is a
 * ClientConflictError unless `replace`, which overwrites the whole row. Serialised with `clients gen`.
 */
export async function importClients (db: Database, rows: readonly ClientImportRow[], opts: { replace: boolean }): Promise<ClientImportResult> {
  return withAdvisoryLock(db, 'createClients', async (tx) => {
    const { rows: existing } = await tx.query<{ id: number, secret: string }>(
      'SELECT id, secret FROM clients WHERE id = ANY($1::int[]) FOR UPDATE', [rows.map((r) => r.id)])
    const stored = new Map(existing.map((e) => [e.id, e.secret]))
    const fresh: ClientImportRow[] = []
    const differing: ClientImportRow[] = []
    const unchanged: number[] = []
    for (const r of rows) {
      const secret = stored.get(r.id)
      if (secret === undefined) fresh.push(r)
      else if (sameSecret(secret, r.secret)) unchanged.push(r.id)
      else differing.push(r)
    }
    if (differing.length > 0 && !opts.replace) throw new ClientConflictError(differing.map((r) => ({ id: r.id, line: r.line })))
    if (fresh.length > 0) {
      await tx.query(`INSERT INTO clients (id, active, created, secret, email, notes, otp) SELECT * FROM ${UNNEST}`, COLUMNS(fresh))
    }
    if (differing.length > 0) {
      await tx.query(`UPDATE clients c SET active = n.active, created = n.created, secret = n.secret, email = n.email,
        notes = n.notes, otp = n.otp FROM ${UNNEST} WHERE c.id = n.id`, COLUMNS(differing))
    }
    return { inserted: fresh.map((r) => r.id), unchanged, replaced: differing.map((r) => r.id) }
  }, { timeoutMs: ADMIN_TIMEOUT_MS })
}
