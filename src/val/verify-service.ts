// The verify endpoint's logic (reference §1.4-§1.6 plus the deliberate differences in the README):
// request map in, complete response body and a log-safe summary out. Never throws.
import { randomBytes } from 'node:crypto'
import { performance } from 'node:perf_hooks'
import type { ClientRecord, ClientStore, YubikeyStore } from '../db/types.js'
import type { Ksm } from '../ksm/types.js'
import { isValidOtp, splitOtp } from '../otp/otp-string.js'
import { STATUS_OF_REASON, type Reason, type WsapiStatus } from '../outcome.js'
import {
  getHttpVal, isClientId, isNonce, isNonceMissing, isProtocolV2, isRequestOtp, isTimeoutValid,
  isTimestampRequested, normaliseRequestOtp, parseSl, SYNC_LEVEL_DEFAULT
} from '../wsapi/params.js'
import type { RequestParams } from '../wsapi/query-parse.js'
import { buildResponse } from '../wsapi/response.js'
import { decodeClientSecret, verifyRequestSignature } from '../wsapi/signature.js'
import { acceptOtp, describeError } from './replay.js'
import { reportedSyncLevel } from '../sync/protocol.js'
import type { SyncPool } from '../sync/sync-pool.js'

/** Without a sync pool all replicas share one database, so every accepted OTP is known to 100% of them. */
export const REPORTED_SYNC_LEVEL = '100'
/** clients.id is a 32-bit INT in yubikey-val's schema: larger (still valid) ids simply match nothing. */
const MAX_CLIENT_ID = 2147483647

const EMPTY_KEY = Buffer.alloc(0)

export interface VerifyInput {
  /** From protocolVersion(requestUri); >= 2 selects WSAPI 2.0 behaviour. */
  protocol: number
  /** From selectRequestParams(query, body). */
  params: RequestParams
}

export interface VerifyOutcome {
  status: WsapiStatus
  reason: Reason
  /** The complete response body (it echoes the normalised OTP on some statuses: do not log it). */
  body: string
  /** The request's client id when syntactically valid (known or not), else null. */
  clientId: number | null
  /** Public id of the normalised OTP when it is well-formed, else null. */
  publicId: string | null
  /** The request carried a non-empty `h`. */
  signed: boolean
  protocol: number
  /** Secret-free diagnostic for logs (KSM failure detail, store error), or null. */
  detail: string | null
  durationMs: number
}

export interface VerifyServiceOptions {
  ksm: Ksm
  clients: ClientStore
  yubikeys: YubikeyStore
  now?: () => Date
  /** Server nonce for protocol 1.x requests (32 hex characters). */
  randomNonce?: () => string
  /** A yubikey-val sync pool: OK only once enough peers confirmed (sl), within the request's timeout. */
  sync?: VerifySyncOptions
}

export interface VerifySyncOptions {
  pool: SyncPool
  /** Wait when the request gives no `timeout` (yubikey-val: 1 s), ms. */
  defaultTimeoutMs: number
  /** Cap on a request's `timeout` (whose 0 means "no limit" in yubikey-val), ms. */
  maxTimeoutMs: number
}

export interface VerifyService {
  verify(input: VerifyInput): Promise<VerifyOutcome>
}

interface Request {
  v2: boolean
  id: string
  otp: string
  h: string
  nonce: string
  sl: string
  timeout: string
  timestamp: string
}

function readRequest (params: RequestParams, v2: boolean): Request {
  return {
    v2,
    id: getHttpVal(params, 'id', '0'),
    otp: normaliseRequestOtp(getHttpVal(params, 'otp', '')),
    h: getHttpVal(params, 'h', ''),
    timestamp: getHttpVal(params, 'timestamp', '0'),
    // Protocol 1.x never reads these.
    nonce: v2 ? getHttpVal(params, 'nonce', '') : '',
    sl: v2 ? getHttpVal(params, 'sl', '') : '',
    timeout: v2 ? getHttpVal(params, 'timeout', '') : ''
  }
}

/** Steps 1-6 of reference §1.4, in that order: the first failing check decides the status. */
function firstParameterFailure (r: Request): Reason | null {
  if (r.v2 && isNonceMissing(r.nonce)) return 'missing_nonce'
  if (r.v2 && parseSl(r.sl) === null) return 'bad_sl'
  if (r.v2 && !isTimeoutValid(r.timeout)) return 'bad_timeout'
  if (!isRequestOtp(r.otp)) return 'bad_otp_format'
  if (!isClientId(r.id)) return 'bad_client_id'
  if (r.v2 && !isNonce(r.nonce)) return 'bad_nonce'
  return null
}

/** The request's `timeout` (whole seconds, already validated) as a wait in ms. */
function syncTimeoutMs (timeout: string, sync: VerifySyncOptions): number {
  if (timeout === '') return sync.defaultTimeoutMs
  const ms = Number(timeout) * 1000
  return ms === 0 || !Number.isFinite(ms) ? sync.maxTimeoutMs : Math.min(ms, sync.maxTimeoutMs)
}

type ClientLookup = { client: ClientRecord | null } | { error: string }

export function createVerifyService (opts: VerifyServiceOptions): VerifyService {
  const now = opts.now ?? (() => new Date())
  const randomNonce = opts.randomNonce ?? (() => randomBytes(16).toString('hex'))

  async function lookupClient (id: number): Promise<ClientLookup> {
    if (id > MAX_CLIENT_ID) return { client: null }
    try {
      return { client: await opts.clients.getClient(id) }
    } catch (err) {
      return { error: `client store: ${describeError(err)}` }
    }
  }

  async function verify (input: VerifyInput): Promise<VerifyOutcome> {
    const started = performance.now()
    const v2 = isProtocolV2(input.protocol)
    let key: Uint8Array = EMPTY_KEY
    let clientId: number | null = null
    let publicId: string | null = null
    let signed = false

    const finish = (reason: Reason, extras: Array<[string, string]> = [], detail: string | null = null): VerifyOutcome => {
      const status = STATUS_OF_REASON[reason]
      return {
        status,
        reason,
        body: buildResponse({ status, extras }, key, now()),
        clientId,
        publicId,
        signed,
        protocol: input.protocol,
        detail,
        durationMs: performance.now() - started
      }
    }

    try {
      const r = readRequest(input.params, v2)
      signed = r.h !== ''
      if (isClientId(r.id)) clientId = Number(r.id)
      if (isValidOtp(r.otp)) publicId = splitOtp(r.otp).publicId

      // One client lookup whenever the id is usable: it decides the signing key even for the early
      // parameter errors (difference 3), while the status stays the one yubikey-val gives.
      const lookup = clientId === null ? { client: null } : await lookupClient(clientId)
      const client = 'client' in lookup ? lookup.client : null
      if (client?.active === true) key = decodeClientSecret(client.secret)

      const paramFailure = firstParameterFailure(r)
      if (paramFailure !== null) return finish(paramFailure)
      if ('error' in lookup) return finish('db_unavailable', [], lookup.error)
      if (client === null || !client.active) return finish('no_such_client')
      if (signed && !verifyRequestSignature(input.params, r.h, key)) return finish('bad_signature')

      const nonce = v2 ? r.nonce : randomNonce()
      const echo: Array<[string, string]> = v2 ? [['otp', r.otp], ['nonce', nonce]] : []
      // Only the PHP-regex "<modhex>\n" case passes is_otp without being a real OTP; PHP's KSM call fails.
      if (!isValidOtp(r.otp)) return finish('bad_otp_format')

      const decrypted = await opts.ksm.decrypt(r.otp).catch((err: unknown) => describeError(err))
      if (typeof decrypted === 'string') return finish('internal_error', [], `ksm: ${decrypted}`)
      if (!decrypted.ok) return finish(decrypted.reason, [], decrypted.detail)

      const f = decrypted.fields
      const acceptedAt = Math.floor(now().getTime() / 1000)
      const accepted = await acceptOtp(opts.yubikeys, {
        publicId: publicId ?? '',
        counter: f.counter,
        use: f.sessionUse,
        low: f.timestampLow,
        high: f.timestampHigh,
        nonce,
        now: acceptedAt,
        otp: r.otp
      })
      switch (accepted.reason) {
        case 'ok': {
          let sl = REPORTED_SYNC_LEVEL
          if (opts.sync !== undefined) {
            const { pool } = opts.sync
            const confirmed = await pool.confirm(accepted.queued ?? [], {
              otp: r.otp, modified: acceptedAt, publicId: publicId ?? '', counter: f.counter, use: f.sessionUse,
              high: f.timestampHigh, low: f.timestampLow, nonce
            }, parseSl(r.sl) ?? SYNC_LEVEL_DEFAULT, syncTimeoutMs(r.timeout, opts.sync))
            sl = String(reportedSyncLevel(confirmed.valid, pool.peers.length))
            const peers = `${confirmed.valid} of ${confirmed.required} required peer answers valid, ${confirmed.answers} answers`
            if (confirmed.keyDisabled) return finish('key_disabled_on_peer', [], 'a peer has the key disabled')
            if (confirmed.answers > confirmed.valid) return finish('replayed_on_peer', echo, peers)
            if (confirmed.valid < confirmed.required) return finish('not_enough_answers', [...echo, ['sl', sl]], peers)
          }
          const extras: Array<[string, string]> = v2 ? [...echo, ['sl', sl]] : []
          if (isTimestampRequested(r.timestamp)) {
            extras.push(
              ['timestamp', String(f.timestampHigh * 65536 + f.timestampLow)],
              ['sessioncounter', String(f.counter)],
              ['sessionuse', String(f.sessionUse)]
            )
          }
          return finish('ok', extras)
        }
        case 'replayed_request':
        case 'replayed_otp':
          return finish(accepted.reason, echo)
        default:
          return finish(accepted.reason, [], accepted.detail)
      }
    } catch (err) {
      return finish('internal_error', [], `verify: ${describeError(err)}`)
    }
  }

  return { verify }
}
