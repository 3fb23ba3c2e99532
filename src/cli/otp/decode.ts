// `yubival otp decode OTP`: what /wsapi/2.0/verify would answer for this OTP, and why, without
// consuming it. The KSM part is the real KSM (same store, same checks); the counter part reads the
// yubikeys row and asks the verify path's own classifyRefusal, so the answer cannot drift from it.
import { randomBytes } from 'node:crypto'
import type { Command } from 'commander'
import type { Config } from '../../config.js'
import type { YubikeyRecord } from '../../db/types.js'
import { YubikeysRepository } from '../../db/yubikeys-repository.js'
import { createAeadTableStore } from '../../db/aead-table-store.js'
import { createFileAeadStore, createKsm, formatKsmOkLine, type AeadLoadResult, type AeadStore, type DecryptResult } from '../../ksm/index.js'
import { isValidOtp, normaliseOtp, type OtpFields } from '../../otp/index.js'
import { STATUS_OF_REASON, type Reason, type WsapiStatus } from '../../outcome.js'
import { classifyRefusal } from '../../val/replay.js'
import { isoTime } from '../clients/common.js'
import { withCliDatabase } from '../commands/migrate.js'
import { CliError } from '../errors.js'
import { stderrIo } from '../keys/common.js'
import { openKeyTools } from '../ksm-setup.js'

export interface DecodeReport {
  publicId: string | null
  /** The AEAD file the KSM read (the first configured key handle folder that has one). */
  aead: { file: string, keyHandle: number, version: 0 | 1 } | { missing: string[] } | { unreadable: string } | null
  ksm: { ok: true, line: string, keyHandle: number } | { ok: false, reason: Reason, detail: string } | null
  /** Decrypted fields (never the private uid or the AES key). */
  fields: (Omit<OtpFields, 'random' | 'crc'> & { timestamp: number }) | null
  uid: 'match' | 'mismatch' | 'not checked'
  crc: 'ok' | 'mismatch' | 'not checked'
  /** The yubikeys row; `error` when the database could not be read. */
  stored: { row: YubikeyRecord | null } | { error: string } | null
  verdict: { status: WsapiStatus | 'UNKNOWN', reason: Reason | null, why: string }
}

function checks (result: DecryptResult): Pick<DecodeReport, 'uid' | 'crc'> {
  if (result.ok) return { uid: 'match', crc: 'ok' }
  if (result.reason === 'uid_mismatch') return { uid: 'mismatch', crc: 'not checked' }
  if (result.reason === 'crc_mismatch') return { uid: 'match', crc: 'mismatch' }
  return { uid: 'not checked', crc: 'not checked' }
}

function aeadPart (loaded: AeadLoadResult): DecodeReport['aead'] {
  if (loaded.status === 'found') return { file: loaded.record.source, keyHandle: loaded.record.keyHandle, version: loaded.record.version }
  if (loaded.status === 'missing') return { missing: loaded.tried }
  return { unreadable: loaded.detail }
}

async function readRow (config: Config, publicId: string): Promise<{ row: YubikeyRecord | null } | { error: string }> {
  try {
    // read only: a diagnosis must not migrate or insert anything
    return { row: await withCliDatabase(config, async (db) => new YubikeysRepository(db).getYubikey(publicId), { migrate: false }) }
  } catch (err) {
    if (err instanceof CliError) return { error: err.message }
    throw err
  }
}

const pair = (counter: number, use: number): string => `counter=${counter} use=${use}`

/** The decision of YubikeysRepository.accept + classifyRefusal for this row, without writing. */
function counterVerdict (row: YubikeyRecord | null, f: OtpFields, nonce: string): DecodeReport['verdict'] {
  const otp = pair(f.counter, f.sessionUse)
  if (row === null) return { status: 'OK', reason: 'ok', why: `first OTP seen from this key: it would be accepted (${otp}) and its counters stored` }
  const reason = classifyRefusal(row, { publicId: row.publicId, counter: f.counter, use: f.sessionUse, low: f.timestampLow, high: f.timestampHigh, nonce, now: 0 }) ?? 'ok'
  const stored = pair(row.counter, row.use)
  const why: Record<string, string> = {
    ok: `the OTP's ${otp} is higher than the stored ${stored}: it would be accepted`,
    key_disabled: 'the key is disabled (`yubival keys enable` turns it on again)',
    replayed_request: `same counters as stored (${stored}) and the same nonce: a retransmitted request`,
    replayed_otp: `the stored ${stored} is as high or higher than the OTP's ${otp}: this OTP or a later one was already used` +
      ' (if the YubiKey was reprogrammed, `yubival keys reset` clears the counters)'
  }
  return { status: STATUS_OF_REASON[reason], reason, why: why[reason] ?? reason }
}

export async function decodeOtp (config: Config, rawOtp: string, nonce = randomBytes(16).toString('hex')): Promise<DecodeReport> {
  const otp = normaliseOtp(rawOtp)
  const report: DecodeReport = { publicId: null, aead: null, ksm: null, fields: null, uid: 'not checked', crc: 'not checked', stored: null, verdict: { status: 'BAD_OTP', reason: 'bad_otp_format', why: '' } }
  if (!isValidOtp(otp)) {
    report.verdict.why = `not an OTP: expected 32-48 modhex characters, got ${rawOtp.length} characters`
    return report
  }
  const publicId = otp.slice(0, -32)
  report.publicId = publicId
  const { keyfile } = openKeyTools(config, stderrIo, { write: false })
  const decrypt = async (store: AeadStore): Promise<DecryptResult> => {
    report.aead = publicId === '' ? null : aeadPart(await store.load(publicId))
    return createKsm({ keyfile, store }).decrypt(otp)
  }
  const result = config.aeadStore === 'database'
    ? await withCliDatabase(config, async (db) => decrypt(createAeadTableStore({ db, keyHandles: config.keyHandles, cacheSize: 1 })), { migrate: false })
    : await decrypt(createFileAeadStore({ aeadDir: config.aeadDir, keyHandles: config.keyHandles, cacheSize: 1 }))
  Object.assign(report, checks(result))
  if (!result.ok) {
    report.ksm = { ok: false, reason: result.reason, detail: result.detail }
    report.verdict = { status: STATUS_OF_REASON[result.reason], reason: result.reason, why: result.detail }
    return report
  }
  const f = result.fields
  report.ksm = { ok: true, line: formatKsmOkLine(f), keyHandle: result.keyHandle }
  report.fields = { counter: f.counter, sessionUse: f.sessionUse, timestampHigh: f.timestampHigh, timestampLow: f.timestampLow, timestamp: f.timestampHigh * 65536 + f.timestampLow }
  const stored = await readRow(config, publicId)
  report.stored = stored
  report.verdict = 'error' in stored
    ? { status: 'UNKNOWN', reason: null, why: `the stored counters cannot be read: ${stored.error}` }
    : counterVerdict(stored.row, f, nonce)
  return report
}

const hex = (n: number, w: number): string => `0x${n.toString(16).padStart(w, '0')}`

export function formatDecodeReport (r: DecodeReport): string {
  const lines: Array<[string, string]> = [['public id', r.publicId === null ? '-' : r.publicId === '' ? '(empty)' : r.publicId]]
  const a = r.aead
  if (a !== null) {
    if ('file' in a) lines.push(['AEAD', `${a.file} (key handle ${a.keyHandle}, file version ${a.version})`])
    else if ('missing' in a) lines.push(['AEAD', `none; looked at ${a.missing.join(', ') || 'nothing'}`])
    else lines.push(['AEAD', `unreadable: ${a.unreadable}`])
  }
  if (r.ksm !== null) lines.push(['KSM', r.ksm.ok ? `${r.ksm.line} (key handle ${r.ksm.keyHandle})` : `failed: ${r.ksm.reason}`])
  lines.push(['private uid', r.uid], ['CRC', r.crc])
  if (r.fields !== null) {
    const f = r.fields
    lines.push(['OTP fields', `counter=${f.counter} (${hex(f.counter, 4)}) use=${f.sessionUse} timestamp=${hex(f.timestamp, 6)} (high=${hex(f.timestampHigh, 2)} low=${hex(f.timestampLow, 4)})`])
  }
  if (r.stored !== null) {
    if ('error' in r.stored) lines.push(['stored', `unknown: ${r.stored.error}`])
    else if (r.stored.row === null) lines.push(['stored', 'no row (key never used)'])
    else {
      const s = r.stored.row
      const last = s.modified >= 0 ? `, last use ${isoTime(s.modified)}` : ''
      lines.push(['stored', `${s.counter < 0 ? 'no counters (-1: never used or reset)' : pair(s.counter, s.use)}, ${s.active ? 'active' : 'DISABLED'}${last}`])
    }
  }
  lines.push(['verify answer', `${r.verdict.status}${r.verdict.reason === null ? '' : ` (reason ${r.verdict.reason})`}: ${r.verdict.why}`])
  return lines.map(([k, v]) => `${(k + ':').padEnd(15)}${v}\n`).join('')
}
