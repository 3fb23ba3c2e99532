import { randomBytes } from 'node:crypto'
import { withAdvisoryLock, type Database, type Queryable } from './database.js'
import type { ClientRecord, ClientStore } from './types.js'

/** Largest id the `clients.id INT` column can hold. */
export const MAX_CLIENT_ID = 2 ** 31 - 1

const GET_SQL = 'SELECT id, active, created, secret, email, notes, otp FROM clients WHERE id = $1'

interface ClientRow {
  id: number
  active: boolean | null
  created: number
  secret: string
  email: string | null
  notes: string | null
  otp: string | null
}

function toRecord (r: ClientRow): ClientRecord {
  return {
    id: r.id,
    // yubikey-val's column is nullable and its check is `active == 1`: NULL is not active.
    active: r.active === true,
    created: r.created,
    secret: r.secret,
    email: r.email,
    notes: r.notes ?? '',
    otp: r.otp ?? ''
  }
}

export class ClientsRepository implements ClientStore {
  constructor (private readonly db: Queryable) {}

  async getClient (id: number): Promise<ClientRecord | null> {
    // Out of the column's range: the query would fail with a type error, and no such client can exist.
    if (!Number.isSafeInteger(id) || id < 0 || id > MAX_CLIENT_ID) return null
    const { rows } = await this.db.query<ClientRow>(GET_SQL, [id], 'yubival_get_client')
    return rows[0] === undefined ? null : toRecord(rows[0])
  }
}

export class ClientInputError extends Error {
  constructor (message: string) {
    super(message)
    this.name = 'ClientInputError'
  }
}

export interface CreateClientsOptions {
  count: number
  notes?: string
  email?: string
  otp?: string
  /** Unix seconds, stored in `created`. */
  now: number
}

export interface CreatedClient {
  id: number
  /** Base64 of 20 random bytes: the HMAC-SHA1 key the client signs with. */
  secret: string
}

// Column widths of yubikey-val's schema: checked here so the error names the option, not a SQL type.
const FIELD_LIMITS = { notes: 100, email: 255, otp: 100 } as const

// Admin work may wait for another run's lock and insert many rows: not bound by the verify-path timeout.
const ADMIN_TIMEOUT_MS = 5 * 60_000

/** Largest batch one call creates (each is a row and a printed line; protects against typos). */
export const MAX_CLIENTS_PER_CALL = 100_000

function checkCreateOptions (opts: CreateClientsOptions): void {
  if (!Number.isSafeInteger(opts.count) || opts.count < 1 || opts.count > MAX_CLIENTS_PER_CALL) {
    throw new ClientInputError(`number of clients must be a whole number from 1 to ${MAX_CLIENTS_PER_CALL}, got ${String(opts.count)}`)
  }
  for (const field of ['notes', 'email', 'otp'] as const) {
    const value = opts[field]
    if (value !== undefined && value.length > FIELD_LIMITS[field]) {
      throw new ClientInputError(`${field} is ${value.length} characters long; the clients table allows at most ${FIELD_LIMITS[field]}`)
    }
  }
}

/**
 * Creates `count` active clients with consecutive ids after the highest existing one (1 for an empty
 * table) and fresh random secrets, as ykval-gen-clients does. All or nothing. Concurrent callers are
 * serialised by an advisory lock, so two runs never pick the same ids.
 */
export async function createClients (db: Database, opts: CreateClientsOptions): Promise<CreatedClient[]> {
  checkCreateOptions(opts)
  return withAdvisoryLock(db, 'createClients', async (tx) => {
    const { rows } = await tx.query<{ max: number | null }>('SELECT MAX(id) AS max FROM clients')
    const first = (rows[0]?.max ?? 0) + 1
    if (first + opts.count - 1 > MAX_CLIENT_ID) {
      throw new ClientInputError(`cannot create ${opts.count} clients: ids would pass ${MAX_CLIENT_ID}, the largest the clients table holds`)
    }
    const created: CreatedClient[] = Array.from({ length: opts.count }, (_, i) => ({
      id: first + i,
      secret: randomBytes(20).toString('base64')
    }))
    // One statement whatever the count: arrays are parameters, never SQL text.
    await tx.query(
      `INSERT INTO clients (id, active, created, secret, email, notes, otp)
       SELECT id, TRUE, $3, secret, $4, $5, $6 FROM unnest($1::int[], $2::text[]) AS n(id, secret)`,
      [created.map((c) => c.id), created.map((c) => c.secret), opts.now, opts.email ?? '', opts.notes ?? '', opts.otp ?? '']
    )
    return created
  }, { timeoutMs: ADMIN_TIMEOUT_MS })
}
