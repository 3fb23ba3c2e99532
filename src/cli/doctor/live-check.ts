// `doctor --url --id --key`: a round trip through the running server with a throwaway YubiKey. An AEAD
// for a random public id is written under the first configured key handle (a file, or an aead_table row
// with YUBIVAL_AEAD_STORE=database), an OTP is made for it,
// verified (signed request, response signature checked) and replayed (must be REPLAYED_OTP); then the
// AEAD and the row the server created are removed. The throwaway secret only ever lives in this process.
import { randomBytes } from 'node:crypto'
import type { Config } from '../../config.js'
import type { Database } from '../../db/database.js'
import { deleteAeadRows, insertAeadRows } from '../../db/aead-table-admin.js'
import { deleteYubikeyRow } from '../../db/yubikeys-admin.js'
import { makeYubikeyAeadFile, nonceFromPublicId, parseAeadFile, parseKeyHandle, writeAeadFile, type Keyfile } from '../../ksm/index.js'
import { bytesToModhex, encodeOtp } from '../../otp/index.js'
import { decodeClientSecret, signaturesEqual, signParams } from '../../wsapi/signature.js'
import { locateAeads, removeAeadFile } from '../admin/aead-locate.js'
import { check, oneLine, type CheckResult } from './types.js'

export interface LiveOptions {
  url: string
  id: string
  key: string
}

const TIMEOUT_MS = 10_000

/** The verify URL: as given when it names a path, else <base>/wsapi/2.0/verify. */
export function verifyUrl (raw: string): URL {
  const u = new URL(raw)
  if (u.pathname === '/' || u.pathname === '') u.pathname = '/wsapi/2.0/verify'
  return u
}

interface Answer {
  fields: Map<string, string>
  signatureOk: boolean
}

async function verifyRequest (url: URL, opts: LiveOptions, key: Buffer, otp: string): Promise<Answer> {
  const nonce = randomBytes(16).toString('hex')
  const params: Array<[string, string]> = [['id', opts.id], ['nonce', nonce], ['otp', otp]]
  params.push(['h', signParams(params, key)])
  const u = new URL(url)
  for (const [k, v] of params) u.searchParams.set(k, v)
  const res = await fetch(u, { signal: AbortSignal.timeout(TIMEOUT_MS) })
  const body = await res.text()
  if (res.status !== 200) throw new Error(`HTTP ${res.status} from ${url.href}`)
  const fields = new Map<string, string>()
  for (const line of body.split(/\r?\n/)) {
    const i = line.indexOf('=')
    if (i > 0) fields.set(line.slice(0, i), line.slice(i + 1))
  }
  const h = fields.get('h') ?? ''
  const signed = [...fields].filter(([k]) => k !== 'h')
  const echoOk = fields.get('status') !== 'OK' || (fields.get('otp') === otp && fields.get('nonce') === nonce)
  return { fields, signatureOk: h !== '' && signaturesEqual(signParams(signed, key), h) && echoOk }
}

function describe (a: Answer): string {
  const status = a.fields.get('status') ?? '(no status)'
  return a.signatureOk ? status : `${status} with a bad response signature or echo (wrong --key?)`
}

export async function liveChecks (config: Config, keyfile: Keyfile | null, db: Database | null, opts: LiveOptions): Promise<CheckResult[]> {
  let url: URL
  try {
    url = verifyUrl(opts.url)
  } catch {
    return [check('live verify', 'fail', `--url ${JSON.stringify(opts.url)} is not a URL`)]
  }
  const kh = parseKeyHandle(config.keyHandles[0]!)
  const khKey = keyfile?.get(kh.value)
  if (khKey === undefined) return [check('live verify', 'fail', `cannot make a throwaway key: the keyfile has no key for key handle ${kh.typed}`)]
  if (config.ksmUrls.length > 0) return [check('live verify', 'skip', 'remote KSMs (YUBIVAL_KSM_URLS) cannot know a throwaway key')]
  const inTable = config.aeadStore === 'database'
  if (inTable && db === null) return [check('live verify', 'fail', 'the AEAD store is the database (YUBIVAL_AEAD_STORE=database), which could not be opened')]
  const publicId = `vv${bytesToModhex(randomBytes(5))}`
  if (!inTable && (await locateAeads(config.aeadDir, publicId)).length > 0) return [check('live verify', 'fail', `throwaway public id ${publicId} exists; run again`)]
  const aesKey = randomBytes(16)
  const privateUid = randomBytes(6)
  const clientKey = decodeClientSecret(opts.key)
  const results: CheckResult[] = []
  let file: string | null = null
  let row = false
  try {
    const bytes = makeYubikeyAeadFile({ key: khKey, keyHandle: kh.value, nonce: nonceFromPublicId(publicId), aesKey, privateUid })
    if (inTable && db !== null) {
      const e = parseAeadFile(bytes, { folderKeyHandle: kh.value, publicId })
      await insertAeadRows(db, [{ publicId, keyHandle: e.keyHandle, nonce: e.nonce, aead: e.aead }], { force: false })
      row = true
    } else {
      file = await writeAeadFile(config.aeadDir, kh.typed, publicId, bytes)
    }
    const otp = encodeOtp({ publicId, aesKey, privateUid, counter: 1, sessionUse: 0, timestampHigh: randomBytes(1)[0]!, timestampLow: randomBytes(2).readUInt16LE(0) })
    const first = await verifyRequest(url, opts, clientKey, otp)
    const okFirst = first.signatureOk && first.fields.get('status') === 'OK'
    results.push(check('live verify', okFirst ? 'ok' : 'fail', `${url.origin}${url.pathname} answered ${describe(first)} for a new OTP of throwaway key ${publicId}` +
      (okFirst ? ' (request and response signatures good)' : '')))
    if (okFirst) {
      const replay = await verifyRequest(url, opts, clientKey, otp)
      const refused = replay.signatureOk && replay.fields.get('status') === 'REPLAYED_OTP'
      results.push(check('live replay', refused ? 'ok' : 'fail', `the same OTP again was answered ${describe(replay)}${refused ? '' : ', expected REPLAYED_OTP'}`))
    }
  } catch (err) {
    results.push(check('live verify', 'fail', `${url.origin}${url.pathname}: ${oneLine(err)}${(err as Error).cause === undefined ? '' : ` (${oneLine((err as Error).cause)})`}`))
  } finally {
    aesKey.fill(0)
    privateUid.fill(0)
    results.push(await cleanup(config, db, publicId, file, row))
  }
  return results
}

async function cleanup (config: Config, db: Database | null, publicId: string, file: string | null, row: boolean): Promise<CheckResult> {
  const left: string[] = []
  if (row && db !== null) {
    try {
      await deleteAeadRows(db, publicId)
    } catch (err) {
      left.push(`its aead_table row (${oneLine(err)})`)
    }
  }
  if (file !== null) {
    try {
      await removeAeadFile(config.aeadDir, { folder: config.keyHandles[0]!, path: file })
    } catch (err) {
      left.push(`AEAD ${file} (${oneLine(err)})`)
    }
  }
  if (db === null) {
    left.push('its database row, if the server made one (database not open here)')
  } else {
    try {
      await deleteYubikeyRow(db, publicId)
    } catch (err) {
      left.push(`its database row (${oneLine(err)})`)
    }
  }
  if (left.length === 0) return check('live cleanup', 'ok', `throwaway key ${publicId} removed`)
  return check('live cleanup', 'warn', `throwaway key ${publicId}: could not remove ${left.join('; ')}; harmless (its secret is gone), ` +
    `remove it later with \`yubival keys delete ${publicId} --force\``)
}
