// The benchmark's OTP stream: request number i uses key i mod K, so any K consecutive requests carry K
// different keys (concurrent requests never race on one key), and each key's (counter, use) pair grows
// with every pass over the keys, so every OTP is fresh. Shared by the HTTP load and the ceiling runs.
import { createHmac } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { encodeOtp } from '../dist/otp/index.js'

/** Keys from a `keys generate --print csv` / `# ykksm 1` file: n,publicId,uidHex,keyHex,... */
export function readKeysCsv (file) {
  const keys = []
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    if (line === '' || line.startsWith('#')) continue
    const [, publicId, uidHex, keyHex] = line.split(',')
    keys.push({ publicId, privateUid: Buffer.from(uidHex, 'hex'), aesKey: Buffer.from(keyHex, 'hex') })
  }
  if (keys.length === 0) throw new Error(`${file}: no keys`)
  return keys
}

/** Position of request i in its key's sequence → the OTP's counters (use wraps into counter, like a key). */
export function countersAt (i, keyCount) {
  const pass = Math.floor(i / keyCount)
  return { keyIndex: i % keyCount, counter: 1 + Math.floor(pass / 256), use: pass % 256, low: pass & 0xffff }
}

/** A nonce unique per request, 16-40 characters as WSAPI 2.0 wants. */
export function nonceAt (i) {
  return `bench${i.toString(36).padStart(11, '0')}`
}

/**
 * The path+query of request i: `/wsapi/2.0/verify?id=..&otp=..&nonce=..[&h=..]`. With `clientKey`
 * (base64) the request is signed like libykclient does: HMAC-SHA1 over the sorted parameters.
 */
export function verifyPath (keys, i, client, signed) {
  const { keyIndex, counter, use, low } = countersAt(i, keys.length)
  const k = keys[keyIndex]
  const otp = encodeOtp({ publicId: k.publicId, aesKey: k.aesKey, privateUid: k.privateUid, counter, sessionUse: use, timestampLow: low, timestampHigh: 0 })
  const nonce = nonceAt(i)
  let path = `/wsapi/2.0/verify?id=${client.id}&otp=${otp}&nonce=${nonce}`
  if (signed) {
    const h = createHmac('sha1', client.secret).update(`id=${client.id}&nonce=${nonce}&otp=${otp}`).digest('base64')
    path += `&h=${encodeURIComponent(h)}`
  }
  return path
}
