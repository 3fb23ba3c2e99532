// Reading one AEAD file of the tree and opening it with the keyfile, every failure classified.
import { closeSync, openSync, readSync } from 'node:fs'
import {
  AeadAuthError, AeadFileError, AeadLengthError, MAX_AEAD_FILE_READ, YUBIKEY_AEAD_BYTES, parseAeadFile, parseKeyHandle,
  unwrapYubikeySecret, type AeadEntry, type Keyfile
} from '../../ksm/index.js'

export type AeadProblemKind = 'unreadable' | 'unauthenticated' | 'unknown_key_handle'

export type OpenedAead =
  | {
      ok: true
      entry: AeadEntry
      /** 22 bytes: YubiKey AES key ‖ private uid. The caller zeroes it. */
      secret: Buffer
    }
  | { ok: false, kind: AeadProblemKind, detail: string, entry?: AeadEntry }

// Synchronous on purpose: a promise per file tripled the CPU time of check/export over 100,000 files.
function readHead (file: string): Buffer {
  const fd = openSync(file, 'r')
  try {
    const buf = Buffer.alloc(MAX_AEAD_FILE_READ)
    return buf.subarray(0, readSync(fd, buf, 0, buf.length, 0))
  } finally {
    closeSync(fd)
  }
}

/** The key handle a top-level folder name stands for, or undefined if it is not one. */
export function folderKeyHandle (folder: string): number | undefined {
  try {
    return parseKeyHandle(folder).value
  } catch {
    return undefined
  }
}

/** Never throws for a bad file: I/O, format, size, key and MAC failures come back as `ok: false`. */
export async function openAeadFile (file: string, folder: string, publicId: string, keyfile: Keyfile): Promise<OpenedAead> {
  let bytes: Buffer
  try {
    bytes = readHead(file)
  } catch (err) {
    return { ok: false, kind: 'unreadable', detail: `cannot read: ${(err as NodeJS.ErrnoException).code ?? String(err)}` }
  }
  const folderKh = folderKeyHandle(folder)
  let entry: AeadEntry
  try {
    entry = parseAeadFile(bytes, { folderKeyHandle: folderKh ?? 0, publicId })
  } catch (err) {
    if (err instanceof AeadFileError) return { ok: false, kind: 'unreadable', detail: err.message }
    throw err
  }
  if (entry.version === 0 && folderKh === undefined) {
    return { ok: false, kind: 'unreadable', detail: `version 0 file (no header) in folder ${JSON.stringify(folder)}, which names no key handle`, entry }
  }
  return openAeadEntry(entry, keyfile)
}

/** Opens a parsed AEAD (from a file or a table row) with the keyfile; never throws for a bad one. */
export function openAeadEntry (entry: AeadEntry, keyfile: Keyfile): OpenedAead {
  if (entry.aead.length !== YUBIKEY_AEAD_BYTES) {
    return { ok: false, kind: 'unreadable', detail: `AEAD is ${entry.aead.length} bytes, a YubiKey AEAD has ${YUBIKEY_AEAD_BYTES} (truncated or not a YubiKey AEAD)`, entry }
  }
  const key = keyfile.get(entry.keyHandle)
  if (key === undefined) {
    return { ok: false, kind: 'unknown_key_handle', detail: `made with key handle ${entry.keyHandle}, which the keyfile does not have`, entry }
  }
  try {
    return { ok: true, entry, secret: unwrapYubikeySecret(key, entry.keyHandle, entry.nonce, entry.aead).secret }
  } catch (err) {
    if (err instanceof AeadAuthError) {
      return { ok: false, kind: 'unauthenticated', detail: `integrity check failed with key handle ${entry.keyHandle} (wrong key-handle key or tampered file)`, entry }
    }
    if (err instanceof AeadLengthError) return { ok: false, kind: 'unreadable', detail: err.message, entry }
    throw err
  }
}
