// The receiving side of the sync pool: yubikey-val's sync.php (reference §4.3), step by step, plus the
// optional request signature between yubival nodes and the carried active flag. Never throws.
import type { WsapiStatus } from '../outcome.js'
import { buildResponse } from '../wsapi/response.js'
import { verifyRequestSignature } from '../wsapi/signature.js'
import { getHttpVal } from '../wsapi/params.js'
import type { RequestParams } from '../wsapi/query-parse.js'
import { readSyncRequest } from './protocol.js'
import type { SyncQueueStore } from './sync-pool.js'

export interface SyncResponderOptions {
  store: Pick<SyncQueueStore, 'applyIncoming'>
  /** Exact peer addresses (IPv4-mapped IPv6 counts as IPv4). */
  allowedIps: readonly string[]
  /** Decoded YUBIVAL_SYNC_KEY, or null. */
  key: Uint8Array | null
  /** With a key: allowed peers that may send unsigned requests (yubikey-val nodes). */
  unsignedIps: readonly string[]
  now?: () => Date
}

export interface SyncAnswer {
  status: WsapiStatus
  body: string
  /** For the log: why it was refused, the public id, what changed. Never the OTP. */
  why: string | null
  publicId: string | null
  raised: boolean
}

/** How far a signed request's `ts` may be from this clock. */
export const MAX_SIGNED_AGE_MS = 300_000

export const plainIp = (ip: string): string => ip.startsWith('::ffff:') && ip.includes('.') ? ip.slice(7) : ip
const EMPTY_KEY = Buffer.alloc(0)

export function createSyncResponder (opts: SyncResponderOptions): (ip: string, rawQuery: string, params: RequestParams) => Promise<SyncAnswer> {
  const now = opts.now ?? (() => new Date())
  const allowed = new Set(opts.allowedIps.map(plainIp))
  const unsigned = new Set(opts.unsignedIps.map(plainIp))

  return async (ip, rawQuery, params) => {
    let key: Uint8Array = EMPTY_KEY
    let publicId: string | null = null
    const answer = (status: WsapiStatus, why: string | null, extras: Array<[string, string]> = [], raised = false): SyncAnswer =>
      ({ status, body: buildResponse({ status, extras }, key, now()), why, publicId, raised })
    try {
      if (rawQuery === '') return answer('MISSING_PARAMETER', 'empty query string')
      const from = plainIp(ip)
      if (!allowed.has(from)) return answer('OPERATION_NOT_ALLOWED', `${from} is not in YUBIVAL_SYNC_ALLOWED_IPS`)
      let signed = false
      if (opts.key !== null) {
        const h = getHttpVal(params, 'h', '')
        if (h === '') {
          if (!unsigned.has(from)) return answer('OPERATION_NOT_ALLOWED', `unsigned request from ${from}, which is not in YUBIVAL_SYNC_UNSIGNED_IPS`)
        } else {
          if (!verifyRequestSignature(params, h, opts.key)) return answer('BAD_SIGNATURE', 'h does not match YUBIVAL_SYNC_KEY')
          const ts = Number(getHttpVal(params, 'ts', ''))
          if (!Number.isSafeInteger(ts) || Math.abs(now().getTime() - ts) > MAX_SIGNED_AGE_MS) {
            return answer('OPERATION_NOT_ALLOWED', 'signed request without a ts within 5 minutes of this clock (replayed, or clocks apart)')
          }
          // a signed request gets a signed answer
          key = opts.key
          signed = true
        }
      }
      const request = readSyncRequest(params)
      if (!request.ok) return answer('MISSING_PARAMETER', request.why)
      // with a sync key, only a signed request may change the active flag (yubikey-val never sends one)
      const m = opts.key !== null && !signed ? { ...request.message, active: null } : request.message
      publicId = m.publicId
      const applied = await opts.store.applyIncoming(m, Math.floor(now().getTime() / 1000))
      const b = applied.before
      const raised = m.counter > b.counter || (m.counter === b.counter && m.use > b.use)
      if (!applied.activeAfter) return answer('BAD_OTP', 'key is disabled here', [], raised)
      return answer('OK', null, [
        ['modified', String(b.modified)],
        ['nonce', b.nonce],
        ['yk_publicname', m.publicId],
        ['yk_counter', String(b.counter)],
        ['yk_use', String(b.use)],
        ['yk_high', String(b.high)],
        ['yk_low', String(b.low)]
      ], raised)
    } catch (err) {
      return answer('BACKEND_ERROR', `database: ${(err as Error).message.slice(0, 200)}`)
    }
  }
}
