// AEAD files as pyhsm's tools write and read them (reference/ksm-pyhsm.md §3).
import path from 'node:path'
import { modhexToBytes } from '../otp/modhex.js'
import { AEAD_NONCE_BYTES, wrapYubikeySecret } from './aead-codec.js'

const MARKER = Buffer.from('YubiHSM AEAD\n', 'latin1')
const MARKER_CRLF = Buffer.from('YubiHSM AEAD\r\n', 'latin1')
/** pyhsm reads at most this many bytes of a file. */
export const MAX_AEAD_FILE_READ = 1024
/** pyhsm keeps this many bytes of a marker-less ("version 0") file. */
const VERSION0_MAX = 48

export interface AeadEntry {
  /** 0 = raw AEAD bytes without header (pyhsm ≤ 1.0.3), 1 = current format. */
  version: 0 | 1
  /** From the header (version 1) or the folder's key handle (version 0). */
  keyHandle: number
  /** Always 6 bytes. */
  nonce: Buffer
  aead: Buffer
}

export class AeadFileError extends Error {
  constructor (message: string) {
    super(message)
    this.name = 'AeadFileError'
  }
}

/** Nonce of a version 0 file / of tool-made AEADs: the public id's bytes, right-padded to 6. */
export function nonceFromPublicId (publicId: string): Buffer {
  if (publicId.length % 2 !== 0 || publicId.length > 2 * AEAD_NONCE_BYTES) {
    throw new AeadFileError(`public id ${JSON.stringify(publicId)} cannot be a nonce: needs an even length of at most 12 modhex characters`)
  }
  const nonce = Buffer.alloc(AEAD_NONCE_BYTES)
  modhexToBytes(publicId).copy(nonce)
  return nonce
}

/**
 * Parses file bytes. `folderKeyHandle` and `publicId` are needed only for version 0 files, which carry
 * neither key handle nor nonce.
 */
export function parseAeadFile (bytes: Buffer, context: { folderKeyHandle: number, publicId: string }): AeadEntry {
  const data = bytes.subarray(0, MAX_AEAD_FILE_READ)
  let headerEnd: number
  if (data.subarray(0, MARKER.length).equals(MARKER)) headerEnd = MARKER.length
  else if (data.subarray(0, MARKER_CRLF.length).equals(MARKER_CRLF)) headerEnd = MARKER_CRLF.length
  else {
    return {
      version: 0,
      keyHandle: context.folderKeyHandle,
      nonce: nonceFromPublicId(context.publicId),
      aead: Buffer.from(data.subarray(0, VERSION0_MAX))
    }
  }
  if (data.length < headerEnd + 1) throw new AeadFileError('file ends right after the YubiHSM AEAD marker (no version byte)')
  const version = data[headerEnd]!
  if (version !== 1) throw new AeadFileError(`unknown AEAD file format version ${version}`)
  const aeadStart = headerEnd + 1 + 4 + AEAD_NONCE_BYTES
  if (data.length < aeadStart) throw new AeadFileError(`version 1 header is truncated (${data.length} bytes)`)
  return {
    version: 1,
    keyHandle: data.readUInt32LE(headerEnd + 1),
    nonce: Buffer.from(data.subarray(headerEnd + 5, aeadStart)),
    aead: Buffer.from(data.subarray(aeadStart))
  }
}

/** Version 1 file bytes exactly as pyhsm writes them (LF marker; 54 bytes for a YubiKey AEAD). */
export function serialiseAeadFile (keyHandle: number, nonce: Uint8Array, aead: Uint8Array): Buffer {
  if (nonce.length > AEAD_NONCE_BYTES) throw new AeadFileError(`nonce must be at most ${AEAD_NONCE_BYTES} bytes, got ${nonce.length}`)
  const out = Buffer.alloc(MARKER.length + 1 + 4 + AEAD_NONCE_BYTES + aead.length)
  MARKER.copy(out, 0)
  out[MARKER.length] = 1
  out.writeUInt32LE(keyHandle, MARKER.length + 1)
  out.set(nonce, MARKER.length + 5)
  out.set(aead, MARKER.length + 5 + AEAD_NONCE_BYTES)
  return out
}

/** `<kh as typed>/<every 2-char piece of the id as a folder, the last one too>/<id>`. */
export function aeadRelativePath (keyHandleAsTyped: string, publicId: string): string {
  const parts = [keyHandleAsTyped]
  for (let i = 0; i < publicId.length; i += 2) parts.push(publicId.slice(i, i + 2))
  if (publicId !== '') parts.push(publicId)
  return path.join(...parts)
}

/** A complete version 1 file for a YubiKey secret, as yhsm-generate-keys / yhsm-import-keys write it. */
export function makeYubikeyAeadFile (p: { key: Buffer, keyHandle: number, nonce: Uint8Array, aesKey: Uint8Array, privateUid: Uint8Array }): Buffer {
  return serialiseAeadFile(p.keyHandle, p.nonce, wrapYubikeySecret(p.key, p.keyHandle, p.nonce, p.aesKey, p.privateUid))
}
