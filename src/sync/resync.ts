// yubikey-val's resync.php (reference §4.6): `?yk=<public id>|all` from an allowed address queues the
// local counters of that key (or of every key) for every peer, so a new or recovered peer catches up.
// ykval-synchronize, run on a new node, calls this on an existing one. Plain-text answers, as the PHP.
import type { RequestParams } from '../wsapi/query-parse.js'
import { getHttpVal } from '../wsapi/params.js'
import { plainIp } from './responder.js'

export interface ResyncStore {
  keyExists(publicId: string): Promise<boolean>
  /** Queues state messages; how many rows. */
  queueState(peers: readonly string[], publicIds: readonly string[] | 'all', nowMs: number): Promise<number>
}

export interface ResyncOptions {
  store: ResyncStore
  peers: readonly string[]
  allowedIps: readonly string[]
  nowMs?: () => number
}

export interface ResyncAnswer {
  body: string
  ok: boolean
  /** Rows queued (for the log). */
  queued: number
}

const PUBLIC_ID = /^[cbdefghijklnrtuv]{1,16}$/

export function createResync (opts: ResyncOptions): (ip: string, params: RequestParams) => Promise<ResyncAnswer> {
  const allowed = new Set(opts.allowedIps.map(plainIp))
  const nowMs = opts.nowMs ?? Date.now
  return async (ip, params) => {
    const fail = (line: string): ResyncAnswer => ({ body: `ERROR ${line}\n`, ok: false, queued: 0 })
    const from = plainIp(ip)
    if (!allowed.has(from)) return fail(`Authorization failed (logged ${from})`)
    const yk = getHttpVal(params, 'yk', '')
    if (yk === '') return fail('Missing parameter')
    if (yk !== 'all' && !PUBLIC_ID.test(yk)) return fail(`Unknown yk value: ${yk}`)
    try {
      if (yk !== 'all' && !await opts.store.keyExists(yk)) return fail(`Unknown yubikey: ${yk}`)
      const queued = await opts.store.queueState(opts.peers, yk === 'all' ? 'all' : [yk], nowMs())
      return { body: `OK Initiated resync of ${yk}\n`, ok: true, queued }
    } catch {
      return fail('Failed resync')
    }
  }
}
