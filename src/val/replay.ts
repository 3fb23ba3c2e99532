// Accepting an OTP is one atomic conditional statement in the store; when it refuses, the row it
// returns says why. Nothing here can turn a refusal into OK (deliberate difference 1 in the README).
import type { Reason } from '../outcome.js'
import type { AcceptRequest, QueuedSyncRef, YubikeyRecord, YubikeyStore } from '../db/types.js'
import { phpLooseEquals } from '../wsapi/php-string.js'

export type AcceptReason = Extract<Reason, 'ok' | 'key_disabled' | 'replayed_request' | 'replayed_otp' |
'db_unavailable' | 'internal_error'>

export interface AcceptOutcome {
  reason: AcceptReason
  /** Secret-free explanation for logs when the reason is a backend failure. */
  detail: string | null
  /** Sync messages queued with an accepted OTP (a store with a sync pool). */
  queued?: QueuedSyncRef[]
}

function isCounter (n: unknown): n is number {
  return typeof n === 'number' && Number.isInteger(n)
}

/**
 * Why the store refused, in yubikey-val's order: disabled key, then same OTP + same nonce
 * (REPLAYED_REQUEST), then stored counters >= the OTP's (REPLAYED_OTP). Null: the row does not explain
 * the refusal (no row, odd values, or counters below the OTP's).
 */
export function classifyRefusal (current: YubikeyRecord | null, req: AcceptRequest): AcceptReason | null {
  if (current === null || !isCounter(current.counter) || !isCounter(current.use)) return null
  if (!current.active) return 'key_disabled'
  const sameCounters = current.counter === req.counter && current.use === req.use
  // yubikey-val compares nonces with PHP's loose ==; all-digit nonces compare as numbers.
  if (sameCounters && typeof current.nonce === 'string' && phpLooseEquals(current.nonce, req.nonce)) {
    return 'replayed_request'
  }
  if (current.counter > req.counter || (current.counter === req.counter && current.use >= req.use)) {
    return 'replayed_otp'
  }
  return null
}

export function describeError (err: unknown): string {
  const e = err as { name?: unknown, code?: unknown, message?: unknown } | null
  const name = typeof e?.name === 'string' ? e.name : 'Error'
  const code = typeof e?.code === 'string' ? ` ${e.code}` : ''
  const message = typeof e?.message === 'string' ? `: ${e.message.slice(0, 200)}` : ''
  return `${name}${code}${message}`
}

/** Accept through the store; a refusal the row cannot explain is retried once, then internal_error. */
export async function acceptOtp (store: YubikeyStore, req: AcceptRequest): Promise<AcceptOutcome> {
  for (let attempt = 1; attempt <= 2; attempt++) {
    let result
    try {
      result = await store.accept(req)
    } catch (err) {
      return { reason: 'db_unavailable', detail: `yubikey store: ${describeError(err)}` }
    }
    if (result.accepted) return { reason: 'ok', detail: null, ...(result.queued !== undefined ? { queued: result.queued } : {}) }
    const reason = classifyRefusal(result.current, req)
    if (reason !== null) return { reason, detail: null }
  }
  return {
    reason: 'internal_error',
    detail: `yubikey store refused public id ${req.publicId} twice without a row that explains why`
  }
}
