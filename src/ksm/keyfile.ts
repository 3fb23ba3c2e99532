// The soft-HSM JSON keyfile (reference/ksm-pyhsm.md §1.1): {"<decimal key handle>": "<hex AES key>"}.
import { closeSync, constants, fstatSync, mkdirSync, openSync, readFileSync, writeSync } from 'node:fs'
import { randomBytes } from 'node:crypto'
import path from 'node:path'
import { KeyHandleError, parsePythonUint32 } from './key-handle.js'

/** Key handle number → key-handle key (16, 24 or 32 bytes). */
export type Keyfile = Map<number, Buffer>

export const KEY_HANDLE_KEY_SIZES = [16, 24, 32] as const

export class KeyfileError extends Error {
  constructor (readonly file: string, message: string) {
    super(`keyfile ${file}: ${message}`)
    this.name = 'KeyfileError'
  }
}

export interface LoadKeyfileOptions {
  /** Accept a keyfile that group or others may read or write (a loud warning is emitted instead). */
  allowInsecure?: boolean
  warn?: (message: string) => void
}

// JSON.parse messages may quote the input (and so key material); keep only the position.
function jsonErrorWhere (err: unknown): string {
  const m = /position (\d+)/.exec(err instanceof Error ? err.message : '')
  return m ? ` (at character ${m[1]})` : ''
}

/** Parses keyfile text; `file` is only used in error messages. Never puts key material in messages. */
export function parseKeyfile (text: string, file: string): Keyfile {
  let data: unknown
  try {
    data = JSON.parse(text)
  } catch (err) {
    throw new KeyfileError(file, `is not valid JSON${jsonErrorWhere(err)}`)
  }
  if (data === null || typeof data !== 'object' || Array.isArray(data)) {
    throw new KeyfileError(file, 'must contain a JSON object {"<key handle>": "<hex key>", ...} as its root element')
  }
  const entries = Object.entries(data as Record<string, unknown>)
  if (entries.length === 0) throw new KeyfileError(file, 'contains no key handles')
  const keys: Keyfile = new Map()
  for (const [name, value] of entries) {
    const where = `key handle ${JSON.stringify(name)}`
    let kh: number | undefined
    try {
      kh = parsePythonUint32(name)
    } catch (err) {
      if (err instanceof KeyHandleError) throw new KeyfileError(file, `${where}: out of range (must be 0..4294967295)`)
      throw err
    }
    if (kh === undefined) {
      throw new KeyfileError(file, `${where}: must be a decimal number (hex like 0x1 or names like KSM1 are not accepted in the keyfile)`)
    }
    if (keys.has(kh)) throw new KeyfileError(file, `${where}: key handle ${kh} is defined more than once`)
    if (typeof value !== 'string') throw new KeyfileError(file, `${where}: the key must be a string of hex digits`)
    if (value.length % 2 !== 0) throw new KeyfileError(file, `${where}: the key has an odd number of hex digits (${value.length})`)
    if (!/^[0-9a-fA-F]*$/.test(value)) throw new KeyfileError(file, `${where}: the key contains a character that is not a hex digit`)
    const key = Buffer.from(value, 'hex')
    if (!(KEY_HANDLE_KEY_SIZES as readonly number[]).includes(key.length)) {
      throw new KeyfileError(file, `${where}: the key is ${key.length} bytes; AES keys must be 16, 24 or 32 bytes`)
    }
    keys.set(kh, key)
  }
  return keys
}

/**
 * Reads and checks the keyfile. Refuses a file that group or others can read or write, because it holds
 * the keys that protect every YubiKey secret, unless `allowInsecure` is set.
 */
export function loadKeyfile (file: string, opts: LoadKeyfileOptions = {}): Keyfile {
  let fd: number
  try {
    fd = openSync(file, constants.O_RDONLY)
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    if (code === 'ENOENT') throw new KeyfileError(file, 'does not exist (create one with `yubival keys init`, or set YUBIVAL_KEYFILE)')
    if (code === 'EACCES') throw new KeyfileError(file, 'cannot be read: permission denied')
    throw new KeyfileError(file, `cannot be opened: ${code ?? String(err)}`)
  }
  try {
    // fstat on the open descriptor: the checked file is the file read
    const st = fstatSync(fd)
    if (!st.isFile()) throw new KeyfileError(file, 'is not a regular file')
    const loose = st.mode & 0o077
    if (loose !== 0) {
      const mode = (st.mode & 0o777).toString(8).padStart(4, '0')
      if (opts.allowInsecure !== true) {
        throw new KeyfileError(file, `has mode ${mode}: group/others may access it. Run \`chmod 600 ${file}\` ` +
          '(or set YUBIVAL_ALLOW_INSECURE_KEYFILE=true to accept this risk)')
      }
      opts.warn?.(`WARNING: keyfile ${file} has mode ${mode}: group/others may access the keys that protect every ` +
        'YubiKey secret. Accepted only because insecure keyfiles are explicitly allowed. Fix it with chmod 600.')
    }
    return parseKeyfile(readFileSync(fd, 'utf8'), file)
  } finally {
    closeSync(fd)
  }
}

/**
 * Creates a keyfile with one fresh random AES-256 key under key handle 1, mode 0400, parent folder 0700
 * if it has to be made. Never overwrites: an existing file is an error (O_EXCL).
 */
export function createDefaultKeyfile (file: string): Keyfile {
  mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 })
  let fd: number
  try {
    fd = openSync(file, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o400)
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    if (code === 'EEXIST') throw new KeyfileError(file, 'already exists; refusing to overwrite it (it may protect existing AEADs)')
    throw new KeyfileError(file, `cannot be created: ${code ?? String(err)}`)
  }
  const key = randomBytes(32)
  try {
    writeSync(fd, `{\n  "1": "${key.toString('hex')}"\n}\n`)
  } finally {
    closeSync(fd)
  }
  return new Map([[1, key]])
}
