// In-memory stand-ins for the verify service's collaborators (unit tests only; the real stores are
// tested against PostgreSQL/PGlite elsewhere). The KSM answers from the pyhsm fixture recordings.
import { readFileSync } from 'node:fs'
import path from 'node:path'
import { PYHSM_FIXTURES } from '../helpers/fixtures-path.js'
import type {
  AcceptRequest, AcceptResult, ClientRecord, ClientStore, YubikeyRecord, YubikeyStore
} from '../../src/db/types.js'
import type { DecryptResult, Ksm } from '../../src/ksm/types.js'
import type { KsmFailureReason } from '../../src/outcome.js'
import type { OtpFields } from '../../src/otp/types.js'

export const FIXTURES = PYHSM_FIXTURES

interface OtpCase {
  case: string
  otp: string | null
  otp_fields?: { rnd: number, crc_stored: string }
  response?: { body: string }
}

/** Good OTPs that pyhsm's KSM decrypted (`OK counter=... low=... high=... use=...`), by case name. */
export function fixtureOtps (): Map<string, { otp: string, fields: OtpFields }> {
  const cases = (JSON.parse(readFileSync(path.join(FIXTURES, 'otp-cases.json'), 'utf8')) as { cases: OtpCase[] }).cases
  const out = new Map<string, { otp: string, fields: OtpFields }>()
  for (const c of cases) {
    const m = /^OK counter=([0-9a-f]{4}) low=([0-9a-f]{4}) high=([0-9a-f]{2}) use=([0-9a-f]{2})/.exec(c.response?.body ?? '')
    if (m === null || c.otp === null || out.has(c.case)) continue
    out.set(c.case, {
      otp: c.otp,
      fields: {
        counter: parseInt(m[1]!, 16),
        timestampLow: parseInt(m[2]!, 16),
        timestampHigh: parseInt(m[3]!, 16),
        sessionUse: parseInt(m[4]!, 16),
        random: c.otp_fields?.rnd ?? 0,
        crc: parseInt(c.otp_fields?.crc_stored ?? '0', 16)
      }
    })
  }
  return out
}

export class FakeKsm implements Ksm {
  readonly calls: string[] = []
  /** Force a failure (or a throw) for one OTP. */
  readonly failures = new Map<string, KsmFailureReason | 'throw'>()
  private readonly known = new Map<string, OtpFields>()

  constructor () {
    for (const { otp, fields } of fixtureOtps().values()) this.known.set(otp, fields)
  }

  async decrypt (otp: string): Promise<DecryptResult> {
    this.calls.push(otp)
    const publicId = otp.slice(0, -32)
    const failure = this.failures.get(otp)
    if (failure === 'throw') throw new Error('fake KSM exploded')
    if (failure !== undefined) return { ok: false, publicId, reason: failure, detail: `fake ${failure}` }
    const fields = this.known.get(otp)
    if (fields === undefined) return { ok: false, publicId, reason: 'unknown_key', detail: 'fake: no AEAD' }
    return { ok: true, publicId, fields: { ...fields }, keyHandle: 1, source: 'fixture' }
  }
}

export class FakeClientStore implements ClientStore {
  readonly clients = new Map<number, ClientRecord>()
  calls = 0
  fail = false

  add (id: number, secret: string, active = true): void {
    this.clients.set(id, { id, active, created: 1383728711, secret, email: null, notes: '', otp: '' })
  }

  async getClient (id: number): Promise<ClientRecord | null> {
    this.calls++
    if (this.fail) throw new Error('connect ECONNREFUSED 127.0.0.1:5432')
    return this.clients.get(id) ?? null
  }
}

/** Same conditional semantics as the SQL statement: insert if unseen, else raise iff active and higher. */
export class FakeYubikeyStore implements YubikeyStore {
  readonly rows = new Map<string, YubikeyRecord>()
  acceptCalls = 0
  fail = false
  /** Pretend-refusals: return accepted=false with this `current` for the next N calls. */
  lies: Array<YubikeyRecord | null> = []

  async accept (req: AcceptRequest): Promise<AcceptResult> {
    this.acceptCalls++
    if (this.fail) throw new Error('canceling statement due to statement timeout')
    if (this.lies.length > 0) return { accepted: false, current: this.lies.shift() ?? null }
    const row = this.rows.get(req.publicId)
    if (row === undefined) {
      this.rows.set(req.publicId, {
        publicId: req.publicId, active: true, created: req.now, modified: req.now, counter: req.counter,
        use: req.use, low: req.low, high: req.high, nonce: req.nonce, notes: ''
      })
      return { accepted: true }
    }
    if (row.active && (req.counter > row.counter || (req.counter === row.counter && req.use > row.use))) {
      Object.assign(row, { modified: req.now, counter: req.counter, use: req.use, low: req.low, high: req.high, nonce: req.nonce })
      return { accepted: true }
    }
    return { accepted: false, current: { ...row } }
  }

  async getYubikey (publicId: string): Promise<YubikeyRecord | null> {
    const row = this.rows.get(publicId)
    return row === undefined ? null : { ...row }
  }
}
