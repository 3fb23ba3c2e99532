// A KSM elsewhere: pyhsm's yhsm-yubikey-ksm or the PHP YK-KSM (`GET <prefix><otp>` → `OK counter=…` or
// `ERR …`), as yubikey-val's otp2ksmurls uses them. All URLs are asked at once; the first OK wins and
// the rest are cancelled.
import { isValidOtp } from '../otp/otp-string.js'
import type { OtpFields } from '../otp/types.js'
import type { KsmFailureReason } from '../outcome.js'
import type { DecryptResult, Ksm } from './types.js'

export interface RemoteKsmOptions {
  /** URL prefixes the OTP is appended to, e.g. `http://127.0.0.1:8002/wsapi/decrypt?otp=`. */
  urls: readonly string[]
  /** Deadline for the whole query (all KSMs), milliseconds. */
  timeoutMs: number
  /** For tests; default: the global fetch (undici). */
  fetch?: typeof fetch
}

const OK_LINE = /^OK counter=([0-9a-f]{1,4}) low=([0-9a-f]{1,4}) high=([0-9a-f]{1,2}) use=([0-9a-f]{1,2})/
const UNKNOWN_KEY = /^ERR Unknown (public_id|yubikey)\s*$/
// PHP YK-KSM errors that are about the KSM itself, not the OTP
const KSM_BROKEN = /^ERR (Database error|Log error)\s*$/
/** A KSM answer is one short line; anything longer is not one. */
const MAX_ANSWER_BYTES = 1024

type Answer =
  | { kind: 'ok', fields: OtpFields, host: string }
  | { kind: 'unknown' | 'rejected', line: string, host: string }
  | { kind: 'unavailable', detail: string, host: string }

/** Parses a KSM answer body strictly; undefined when it is neither a valid OK line nor an ERR line. */
export function parseKsmAnswer (body: string): { ok: true, fields: OtpFields } | { ok: false, line: string } | undefined {
  const line = body.split('\n', 1)[0]!.replace(/\r$/, '')
  const m = OK_LINE.exec(line)
  if (m !== null) {
    const [counter, low, high, use] = m.slice(1).map((h) => parseInt(h, 16)) as [number, number, number, number]
    // the protocol carries no random or CRC: those fields are not used past the KSM
    return { ok: true, fields: { counter, timestampLow: low, timestampHigh: high, sessionUse: use, random: 0, crc: 0 } }
  }
  if (line.startsWith('ERR')) return { ok: false, line }
  return undefined
}

/** The host of a URL, for messages (never the path: the OTP goes there). */
const hostOf = (url: string): string => {
  try {
    return new URL(url).host
  } catch {
    return '?'
  }
}

async function ask (doFetch: typeof fetch, prefix: string, otp: string, signal: AbortSignal): Promise<Answer> {
  const host = hostOf(prefix)
  let body: string
  try {
    const res = await doFetch(prefix + otp, { signal, redirect: 'error' })
    body = (await res.text()).slice(0, MAX_ANSWER_BYTES)
    if (res.status !== 200) return { kind: 'unavailable', detail: `HTTP ${res.status}`, host }
  } catch (err) {
    const e = err as Error & { cause?: { code?: string } }
    const why = signal.aborted ? 'no answer in time' : (e.cause?.code ?? e.name)
    return { kind: 'unavailable', detail: why, host }
  }
  const parsed = parseKsmAnswer(body)
  if (parsed === undefined) return { kind: 'unavailable', detail: 'answer is neither OK nor ERR', host }
  if (parsed.ok) return { kind: 'ok', fields: parsed.fields, host }
  if (KSM_BROKEN.test(parsed.line)) return { kind: 'unavailable', detail: parsed.line, host }
  return { kind: UNKNOWN_KEY.test(parsed.line) ? 'unknown' : 'rejected', line: parsed.line, host }
}

/**
 * Without an OK: a KSM that holds the key and refused the OTP (`ERR`, `ERR Corrupt OTP`, …) makes it
 * ksm_rejected (BAD_OTP); all of them saying "unknown" makes it unknown_key (BAD_OTP); but if any KSM did
 * not answer and none refused, the key may live on that one: ksm_unavailable (BACKEND_ERROR).
 */
function verdict (answers: Answer[]): { reason: KsmFailureReason, detail: string } {
  const detail = answers.map((a) => `${a.host}: ${a.kind === 'unavailable' ? a.detail : a.kind === 'ok' ? 'OK' : a.line}`).join('; ')
  if (answers.some((a) => a.kind === 'rejected')) return { reason: 'ksm_rejected', detail: `KSM refused the OTP (${detail})` }
  if (answers.some((a) => a.kind === 'unavailable')) return { reason: 'ksm_unavailable', detail: `no KSM answered (${detail})` }
  return { reason: 'unknown_key', detail: `no KSM knows the public id (${detail})` }
}

export function createRemoteKsm (opts: RemoteKsmOptions): Ksm {
  if (opts.urls.length === 0) throw new Error('createRemoteKsm needs at least one URL')
  const doFetch = opts.fetch ?? fetch
  return {
    async decrypt (otp: string): Promise<DecryptResult> {
      // checked here, so only modhex is ever appended to a URL
      if (typeof otp !== 'string' || !isValidOtp(otp)) {
        return { ok: false, publicId: '', reason: 'bad_otp_format', detail: 'OTP is not 32-48 lower-case modhex characters' }
      }
      const publicId = otp.slice(0, -32)
      const controller = new AbortController()
      const timer = setTimeout(() => controller.abort(), opts.timeoutMs)
      try {
        const answers = opts.urls.map(async (u) => {
          const a = await ask(doFetch, u, otp, controller.signal)
          // first OK wins: cancel the others
          if (a.kind === 'ok') throw a
          return a
        })
        let settled: Answer[]
        try {
          settled = await Promise.all(answers)
        } catch (won) {
          const a = won as Answer
          controller.abort()
          if (a.kind === 'ok') return { ok: true, publicId, fields: a.fields, keyHandle: 0, source: `remote KSM ${a.host}` }
          throw won
        }
        return { ok: false, publicId, ...verdict(settled) }
      } finally {
        clearTimeout(timer)
      }
    }
  }
}
