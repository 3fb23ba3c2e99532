// The sync pool's tables work: the accept statement that also queues the news for every peer, the
// queue the background worker drains, and the counter updates that peers' answers and requests cause.
import type { SyncMessage, PeerState } from '../sync/protocol.js'
import type { Database, Queryable } from './database.js'
import type { AcceptRequest, AcceptResult, QueuedSyncRef, YubikeyRecord, YubikeyStore } from './types.js'
import { ACCEPT_UPSERT_SQL, toRecord, YubikeysRepository, type YubikeyRow } from './yubikeys-repository.js'

/** One queued message to one peer; (id, serverNonce) names this version of the row. */
export type QueuedRef = QueuedSyncRef

const ADMIN_TIMEOUT_MS = 10 * 60_000

export interface QueuedMessage extends QueuedRef {
  kind: 'otp' | 'state'
  message: SyncMessage
  attempts: number
}

// A newer message for the same peer, key and kind replaces the queued one (new nonce). It keeps the
// row's queued_at, attempts and last error: they describe how long that peer has been missing news of
// the key, which is what the queue metrics must show during an outage. A resync (no flag) does not erase
// an explicit enable/disable still waiting to be delivered.
const QUEUE_REPLACE_SQL = `ON CONFLICT (server, yk_publicname, kind) DO UPDATE SET
    server_nonce = EXCLUDED.server_nonce, otp = EXCLUDED.otp, modified = EXCLUDED.modified,
    yk_counter = EXCLUDED.yk_counter, yk_use = EXCLUDED.yk_use, yk_high = EXCLUDED.yk_high,
    yk_low = EXCLUDED.yk_low, nonce = EXCLUDED.nonce, active = coalesce(EXCLUDED.active, q.active),
    next_attempt_at = EXCLUDED.next_attempt_at`

// The accept statement of YubikeysRepository plus, in the same statement (so a crash can never accept
// without queueing), one row per peer. Rows are coalesced per (peer, key, kind): an accepted OTP always
// has higher counters than anything queued before it, so the newest message replaces the older one.
const ACCEPT_AND_QUEUE_SQL = `
WITH accepted AS (
${ACCEPT_UPSERT_SQL}
  RETURNING yk_publicname
), queued AS (
  INSERT INTO sync_queue AS q (kind, server, yk_publicname, server_nonce, otp, modified, yk_counter, yk_use,
    yk_high, yk_low, nonce, active, queued_at, next_attempt_at, attempts, last_error)
  SELECT 'otp', p.server, a.yk_publicname, p.server_nonce, $8, $2, $3, $4, $6, $5, $7, NULL, $10, $11, 0, NULL
  FROM accepted a CROSS JOIN unnest($9::text[], $12::text[]) AS p(server, server_nonce)
  ${QUEUE_REPLACE_SQL}
  RETURNING q.id, q.server, q.server_nonce
)
SELECT (SELECT json_agg(json_build_object('id', id::text, 'server', server, 'serverNonce', server_nonce))
  FROM queued) AS queued
FROM accepted`

// Peer counters win only when higher; `active` is not touched (yubikey-val's updateDbCounters).
const RAISE_COUNTERS_SQL = `
UPDATE yubikeys SET modified = $2, yk_counter = $3, yk_use = $4, yk_low = $5, yk_high = $6, nonce = $7
WHERE yk_publicname = $1 AND ($3 > yk_counter OR ($3 = yk_counter AND $4 > yk_use))`

const QUEUE_COLUMNS = `id::text AS id, kind, server, yk_publicname, server_nonce, otp, modified, yk_counter, yk_use,
  yk_high, yk_low, nonce, active, attempts`

interface QueueRow {
  id: string
  kind: 'otp' | 'state'
  server: string
  yk_publicname: string
  server_nonce: string
  otp: string
  modified: number
  yk_counter: number
  yk_use: number
  yk_high: number
  yk_low: number
  nonce: string
  active: boolean | null
  attempts: number
}

const toQueued = (r: QueueRow): QueuedMessage => ({
  id: r.id,
  server: r.server,
  serverNonce: r.server_nonce,
  kind: r.kind,
  attempts: r.attempts,
  message: {
    otp: r.otp,
    modified: r.modified,
    publicId: r.yk_publicname,
    counter: r.yk_counter,
    use: r.yk_use,
    high: r.yk_high,
    low: r.yk_low,
    nonce: r.nonce,
    active: r.active
  }
})

export interface SyncingAcceptOptions {
  peers: readonly string[]
  /** Random 32-hex nonce per queued row. */
  serverNonce: () => string
  nowMs: () => number
  /** How long the verify that queued the rows may keep them before the worker takes over, ms. */
  holdMs: number
}

/** YubikeyStore whose accept also queues the accepted OTP for every peer of the sync pool. */
export class SyncingYubikeysRepository extends YubikeysRepository implements YubikeyStore {
  constructor (private readonly q: Queryable, private readonly opts: SyncingAcceptOptions) {
    super(q)
  }

  override async accept (req: AcceptRequest): Promise<AcceptResult> {
    const nowMs = this.opts.nowMs()
    const nonces = this.opts.peers.map(() => this.opts.serverNonce())
    const { rows } = await this.q.query<{ queued: QueuedRef[] | string | null }>(ACCEPT_AND_QUEUE_SQL, [
      req.publicId, req.now, req.counter, req.use, req.low, req.high, req.nonce, req.otp ?? '',
      this.opts.peers, nowMs, nowMs + this.opts.holdMs, nonces
    ], 'yubival_accept_otp_and_queue')
    if (rows.length === 1) {
      const raw = rows[0]!.queued
      const queued = (typeof raw === 'string' ? JSON.parse(raw) : raw) as QueuedRef[] | null
      return { accepted: true, queued: queued ?? [] }
    }
    return { accepted: false, current: await this.getYubikey(req.publicId) }
  }
}

export interface QueueStats {
  server: string
  rows: number
  /** Unix ms of the oldest queued message. */
  oldestQueuedAt: number
  /** Messages whose last attempt failed. */
  failing: number
}

/** What a sync request did to the local row. */
export interface AppliedSync {
  /** The row before the request (auto-inserted with -1 counters when the key was unknown). */
  before: YubikeyRecord
  activeAfter: boolean
}

export class SyncQueueRepository {
  constructor (private readonly db: Database) {}

  /** Raises local counters to a peer's when the peer's are higher (§4.4). */
  async raiseCounters (s: PeerState): Promise<boolean> {
    if (s.counter < 0 || s.use < 0) return false
    const { rows } = await this.db.query(`${RAISE_COUNTERS_SQL} RETURNING 1`,
      [s.publicId, Math.max(s.modified, 0), s.counter, s.use, Math.max(s.low, 0), Math.max(s.high, 0), s.nonce],
      'yubival_sync_raise_counters')
    return rows.length === 1
  }

  /**
   * A peer has the key disabled: so do we (yubikey-val never carried the flag, issue #45) — unless an
   * enable of that key is still queued for that peer (its answer crossed our enable).
   */
  async disableKey (publicId: string, peer: string = ''): Promise<boolean> {
    const { rows } = await this.db.query(`UPDATE yubikeys SET active = FALSE WHERE yk_publicname = $1 AND active
      AND NOT EXISTS (SELECT 1 FROM sync_queue WHERE server = $2 AND yk_publicname = $1 AND kind = 'state' AND active)
      RETURNING 1`, [publicId, peer])
    return rows.length === 1
  }

  /**
   * An incoming sync request (§4.3 steps 7-8): auto-insert an unknown key as verify does, raise its
   * counters if the request's are higher, apply a carried active flag; the row before, for the answer.
   */
  async applyIncoming (m: SyncMessage, nowSeconds: number): Promise<AppliedSync> {
    return this.db.transaction(async (tx) => {
      await tx.query(`INSERT INTO yubikeys (active, created, modified, yk_publicname, yk_counter, yk_use, yk_low, yk_high, nonce, notes)
        VALUES (TRUE, $2, -1, $1, -1, -1, -1, -1, '0000000000000000', '') ON CONFLICT (yk_publicname) DO NOTHING`, [m.publicId, nowSeconds])
      const { rows } = await tx.query<YubikeyRow>(`SELECT active, created, modified, yk_publicname, yk_counter, yk_use, yk_low,
        yk_high, nonce, notes FROM yubikeys WHERE yk_publicname = $1 FOR UPDATE`, [m.publicId])
      const before = toRecord(rows[0]!)
      if (m.counter >= 0 && m.use >= 0) {
        await tx.query(RAISE_COUNTERS_SQL, [m.publicId, m.modified, m.counter, m.use, Math.max(m.low, 0), Math.max(m.high, 0), m.nonce])
      }
      let activeAfter = before.active
      if (m.active !== undefined && m.active !== null && m.active !== before.active) {
        await tx.query('UPDATE yubikeys SET active = $2 WHERE yk_publicname = $1', [m.publicId, m.active])
        activeAfter = m.active
      }
      return { before, activeAfter }
    })
  }

  /** Takes up to `limit` due messages for these peers and leases them until `leaseUntil` (ms). */
  async claimDue (peers: readonly string[], nowMs: number, leaseUntil: number, limit: number): Promise<QueuedMessage[]> {
    const { rows } = await this.db.query<QueueRow>(`UPDATE sync_queue SET next_attempt_at = $2
      WHERE id IN (SELECT id FROM sync_queue WHERE next_attempt_at <= $1 AND server = ANY($3::text[])
        ORDER BY next_attempt_at, id LIMIT $4 FOR UPDATE SKIP LOCKED)
      RETURNING ${QUEUE_COLUMNS}`, [nowMs, leaseUntil, peers, limit], 'yubival_sync_claim')
    return rows.map(toQueued).sort((a, b) => Number(a.id) - Number(b.id))
  }

  /** The peer answered: this version of the row is done (a newer message in the row stays). */
  async done (ref: QueuedRef): Promise<void> {
    await this.db.query('DELETE FROM sync_queue WHERE id = $1 AND server_nonce = $2', [ref.id, ref.serverNonce], 'yubival_sync_done')
  }

  /** Not delivered: try again at `nextAt` (ms); `error` says why (no secrets, no OTP). */
  async retryLater (ref: QueuedRef, nextAt: number, error: string, countAttempt = true): Promise<void> {
    await this.db.query(`UPDATE sync_queue SET next_attempt_at = $3, attempts = attempts + $5, last_error = $4
      WHERE id = $1 AND server_nonce = $2`, [ref.id, ref.serverNonce, nextAt, error.slice(0, 200), countAttempt ? 1 : 0], 'yubival_sync_retry')
  }

  /**
   * Queues every key's counters (or those of `publicIds`) for every peer. `flag`: 'explicit' (keys
   * enable/disable) carries the active flag as it is here; 'resync' carries only a disable, so a routine
   * resync from a node that has not heard of a revocation yet can never re-enable the key elsewhere.
   */
  async queueState (peers: readonly string[], publicIds: readonly string[] | 'all', nowMs: number, flag: 'explicit' | 'resync' = 'resync'): Promise<number> {
    if (peers.length === 0) return 0
    const all = publicIds === 'all'
    // every key at once may take longer than the verify path's statement timeout
    const { rows } = await this.db.transaction(async (tx) => tx.query<{ n: number }>(`WITH ins AS (
      INSERT INTO sync_queue AS q (kind, server, yk_publicname, server_nonce, otp, modified, yk_counter, yk_use,
        yk_high, yk_low, nonce, active, queued_at, next_attempt_at, attempts, last_error)
      SELECT 'state', p.server, y.yk_publicname, replace(gen_random_uuid()::text, '-', ''),
        y.yk_publicname || repeat('c', 32), greatest(y.modified, 0), y.yk_counter, y.yk_use, y.yk_high, y.yk_low,
        CASE WHEN y.nonce ~ '^[A-Za-z0-9]{16,40}$' THEN y.nonce ELSE replace(gen_random_uuid()::text, '-', '') END,
        CASE WHEN $5 OR NOT coalesce(y.active, FALSE) THEN coalesce(y.active, FALSE) END, $2, $2, 0, NULL
      FROM yubikeys y CROSS JOIN unnest($1::text[]) AS p(server)
      WHERE ($3 OR y.yk_publicname = ANY($4::text[])) AND y.yk_publicname ~ '^[cbdefghijklnrtuv]{1,16}$'
      ${QUEUE_REPLACE_SQL}
      RETURNING 1)
      SELECT count(*)::int AS n FROM ins`, [peers, nowMs, all, all ? [] : publicIds, flag === 'explicit']), { timeoutMs: ADMIN_TIMEOUT_MS })
    return rows[0]?.n ?? 0
  }

  async stats (): Promise<QueueStats[]> {
    const { rows } = await this.db.query<{ server: string, rows: number, oldest: string, failing: number }>(
      `SELECT server, count(*)::int AS rows, min(queued_at)::text AS oldest, count(*) FILTER (WHERE attempts > 0)::int AS failing
       FROM sync_queue GROUP BY server ORDER BY server`)
    return rows.map((r) => ({ server: r.server, rows: r.rows, oldestQueuedAt: Number(r.oldest), failing: r.failing }))
  }

  /**
   * Drops the oldest messages beyond `limit`, explicit enables/disables last (a lost revocation is worse
   * than lost counters); the number dropped per peer.
   */
  async trim (limit: number): Promise<Map<string, number>> {
    const { rows } = await this.db.query<{ server: string, n: number }>(`WITH total AS (SELECT count(*) AS n FROM sync_queue),
      dropped AS (DELETE FROM sync_queue WHERE id IN (SELECT id FROM sync_queue
        ORDER BY (kind = 'state' AND active IS NOT NULL), queued_at, id
        LIMIT greatest((SELECT n FROM total) - $1, 0)) RETURNING server)
      SELECT server, count(*)::int AS n FROM dropped GROUP BY server`, [limit])
    return new Map(rows.map((r) => [r.server, r.n]))
  }

  /** Removes every queued message about one key (its counters were reset here); how many. */
  async purgeKey (publicId: string): Promise<number> {
    const { rows } = await this.db.query('DELETE FROM sync_queue WHERE yk_publicname = $1 RETURNING 1', [publicId])
    return rows.length
  }

  /** Removes the queued messages of one peer (or of every peer not in `keep`); how many. */
  async purge (peer: string | { keep: readonly string[] }): Promise<number> {
    const { rows } = typeof peer === 'string'
      ? await this.db.query('DELETE FROM sync_queue WHERE server = $1 RETURNING 1', [peer])
      : await this.db.query('DELETE FROM sync_queue WHERE NOT (server = ANY($1::text[])) RETURNING 1', [peer.keep])
    return rows.length
  }
}
