// decrypt() paths the pyhsm fixtures do not reach, with secrets we control.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync, chmodSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { createCipheriv } from 'node:crypto'
import { bytesToModhex } from '../../src/otp/modhex.js'
import { encodeOtp, encodeTokenPlaintext } from '../../src/otp/token.js'
import { aeadRelativePath, makeYubikeyAeadFile, nonceFromPublicId, serialiseAeadFile } from '../../src/ksm/aead-file.js'
import type { AeadStore } from '../../src/ksm/aead-store.js'
import { createFileAeadStore } from '../../src/ksm/file-store.js'
import { createKsm } from '../../src/ksm/ksm.js'
import { KsmSetupError, openFileKsm } from '../../src/ksm/open-file-ksm.js'

const KH_KEY = Buffer.alloc(32, 0x42)
const AES = Buffer.from('00112233445566778899aabbccddeeff', 'hex')
const UID = Buffer.from('a1a2a3a4a5a6', 'hex')
const ID = 'vvcccccccccb'
const otpFields = { publicId: ID, aesKey: AES, privateUid: UID, counter: 5, timestampLow: 0x1234, timestampHigh: 0x56, sessionUse: 7, random: 99 }

let dir: string
beforeEach(() => { dir = mkdtempSync(path.join(tmpdir(), 'yubival-ksm-')) })
afterEach(() => { rmSync(dir, { recursive: true, force: true }) })

function place (bytes: Buffer, kh = '1', id = ID): void {
  const file = path.join(dir, aeadRelativePath(kh, id))
  mkdirSync(path.dirname(file), { recursive: true })
  writeFileSync(file, bytes)
}
const good = (): Buffer => makeYubikeyAeadFile({ key: KH_KEY, keyHandle: 1, nonce: nonceFromPublicId(ID), aesKey: AES, privateUid: UID })
const ksmWith = (keys: Map<number, Buffer>) => createKsm({ keyfile: keys, store: createFileAeadStore({ aeadDir: dir, keyHandles: ['1'], cacheSize: 100 }) })

describe('createKsm().decrypt', () => {
  it('returns the fields, key handle and source of a good OTP', async () => {
    place(good())
    const r = await ksmWith(new Map([[1, KH_KEY]])).decrypt(encodeOtp(otpFields))
    expect(r).toEqual({
      ok: true, publicId: ID, keyHandle: 1, source: path.join(dir, aeadRelativePath('1', ID)),
      fields: { counter: 5, timestampLow: 0x1234, timestampHigh: 0x56, sessionUse: 7, random: 99, crc: expect.any(Number) }
    })
  })

  it('bad_otp_format for anything but 32-48 lower-case modhex, without touching the store', async () => {
    let loads = 0
    const store: AeadStore = { load: async () => { loads++; return { status: 'missing', tried: [] } } }
    const ksm = createKsm({ keyfile: new Map(), store })
    for (const otp of ['', 'x', encodeOtp(otpFields).toUpperCase(), encodeOtp(otpFields) + 'c'.repeat(5), 42 as unknown as string]) {
      expect(await ksm.decrypt(otp)).toMatchObject({ ok: false, reason: 'bad_otp_format', publicId: '' })
    }
    expect(loads).toBe(0)
  })

  it('unknown_key_handle when the keyfile lacks the header key handle', async () => {
    place(good())
    const r = await ksmWith(new Map([[2, KH_KEY]])).decrypt(encodeOtp(otpFields))
    expect(r).toMatchObject({ ok: false, reason: 'unknown_key_handle' })
    if (!r.ok) expect(r.detail).toMatch(/key handle 1/)
  })

  it('aead_auth_failed with the wrong key-handle key', async () => {
    place(good())
    const r = await ksmWith(new Map([[1, Buffer.alloc(32, 1)]])).decrypt(encodeOtp(otpFields))
    expect(r).toMatchObject({ ok: false, reason: 'aead_auth_failed' })
  })

  it('aead_unreadable for an AEAD of the wrong length', async () => {
    place(serialiseAeadFile(1, nonceFromPublicId(ID), Buffer.alloc(31)))
    const r = await ksmWith(new Map([[1, KH_KEY]])).decrypt(encodeOtp(otpFields))
    expect(r).toMatchObject({ ok: false, reason: 'aead_unreadable' })
    if (!r.ok) expect(r.detail).toMatch(/31 bytes/)
  })

  it('uid_mismatch for a token made with the right AES key but another uid', async () => {
    place(good())
    const r = await ksmWith(new Map([[1, KH_KEY]])).decrypt(encodeOtp({ ...otpFields, privateUid: Buffer.alloc(6) }))
    expect(r).toMatchObject({ ok: false, reason: 'uid_mismatch' })
  })

  it('crc_mismatch when only the CRC is wrong', async () => {
    place(good())
    const plain = encodeTokenPlaintext(otpFields)
    plain[14]! ^= 0xff
    const c = createCipheriv('aes-128-ecb', AES, null).setAutoPadding(false)
    const otp = ID + bytesToModhex(Buffer.concat([c.update(plain), c.final()]))
    expect(await ksmWith(new Map([[1, KH_KEY]])).decrypt(otp)).toMatchObject({ ok: false, reason: 'crc_mismatch' })
  })

  it('details never carry key material or the token', async () => {
    place(good())
    const otp = encodeOtp({ ...otpFields, privateUid: Buffer.alloc(6) })
    for (const keys of [new Map([[1, KH_KEY]]), new Map([[1, Buffer.alloc(32, 1)]]), new Map([[9, KH_KEY]])]) {
      const r = await ksmWith(keys).decrypt(otp)
      if (r.ok) throw new Error('expected failure')
      for (const secret of [KH_KEY.toString('hex'), AES.toString('hex'), UID.toString('hex'), otp.slice(-32)]) expect(r.detail).not.toContain(secret)
    }
  })
})

describe('openFileKsm', () => {
  it('loads keyfile + tree and decrypts', async () => {
    place(good())
    const keyfile = path.join(dir, 'keys.json')
    writeFileSync(keyfile, JSON.stringify({ 1: KH_KEY.toString('hex') }))
    chmodSync(keyfile, 0o600)
    const warnings: string[] = []
    const { ksm } = openFileKsm({ keyfile, aeadDir: dir, keyHandles: ['1', '7'], aeadCacheSize: 10, warn: (m) => warnings.push(m) })
    expect(await ksm.decrypt(encodeOtp(otpFields))).toMatchObject({ ok: true })
    expect(warnings).toHaveLength(1)
    expect(warnings[0]).toMatch(/key handle "7" \(7\) is configured but not in keyfile/)
  })

  it('refuses a missing AEAD directory', () => {
    const keyfile = path.join(dir, 'keys.json')
    writeFileSync(keyfile, JSON.stringify({ 1: KH_KEY.toString('hex') }))
    chmodSync(keyfile, 0o600)
    expect(() => openFileKsm({ keyfile, aeadDir: path.join(dir, 'nope'), keyHandles: ['1'], aeadCacheSize: 0 })).toThrow(KsmSetupError)
    expect(() => openFileKsm({ keyfile, aeadDir: keyfile, keyHandles: ['1'], aeadCacheSize: 0 })).toThrow(/not a directory/)
  })
})
