// Shared set-up for the `yubival keys …` CLI tests: a temp folder, fixture keyfiles with a safe mode,
// a clean environment (no YUBIVAL_* from the caller), and an independent AEAD decoder.
import { createDecipheriv } from 'node:crypto'
import { chmodSync, copyFileSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { cliOk, runCli, type CliResult } from '../helpers/cli.js'
import { fixturePath } from '../ksm/fixtures.js'

/** Empty values count as unset in loadConfig: the tests' flags alone decide. */
export const CLEAN_ENV = { YUBIVAL_DATA_DIR: '', YUBIVAL_KEYFILE: '', YUBIVAL_AEAD_DIR: '', YUBIVAL_KEY_HANDLES: '', YUBIVAL_ALLOW_INSECURE_KEYFILE: '' }

export const keys = (args: string[], input?: string): CliResult => runCli(['keys', ...args], { env: CLEAN_ENV, input })
export const keysOk = (args: string[], input?: string): string => cliOk(['keys', ...args], { env: CLEAN_ENV, input })

export interface TempDir {
  dir: string
  /** A copy of a fixture keyfile, mode 0600 (the fixtures are 0444, which the keyfile loader refuses). */
  keyfile: (name?: 'keys.json' | 'keys-multi.json') => string
  remove: () => void
}

export function tempDir (): TempDir {
  const dir = mkdtempSync(path.join(tmpdir(), 'yubival-keys-'))
  return {
    dir,
    keyfile: (name = 'keys.json') => {
      const to = path.join(dir, name)
      copyFileSync(fixturePath(name), to)
      chmodSync(to, 0o600)
      return to
    },
    remove: () => { rmSync(dir, { recursive: true, force: true }) }
  }
}

/** Every regular file under `dir`, as sorted paths relative to it. */
export function listFiles (dir: string): string[] {
  const out: string[] = []
  const walk = (d: string): void => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const full = path.join(d, e.name)
      if (e.isDirectory()) walk(full)
      else out.push(path.relative(dir, full))
    }
  }
  try {
    statSync(dir)
  } catch {
    return []
  }
  walk(dir)
  return out.sort()
}

/** `<kh>/<pairs>/<id>` as pyhsm lays it out (written out here, not taken from the library). */
export const layoutPath = (kh: string, id: string): string => path.join(kh, ...id.match(/.{1,2}/g)!, id)

const MODHEX = 'cbdefghijklnrtuv'
export const modhexToBuffer = (s: string): Buffer =>
  Buffer.from(s.split('').map((c) => MODHEX.indexOf(c).toString(16)).join(''), 'hex')

export interface DecodedAead {
  keyHandle: number
  nonce: Buffer
  aesKeyHex: string
  uidHex: string
}

/** Parses a version 1 file and opens it with plain AES-CCM (independent of src/ksm). */
export function decodeAeadFile (file: string, keyfile: string): DecodedAead {
  const bytes = readFileSync(file)
  if (bytes.length !== 54 || !bytes.subarray(0, 14).equals(Buffer.from('YubiHSM AEAD\n\x01', 'latin1'))) {
    throw new Error(`${file} is not a 54-byte version 1 AEAD file`)
  }
  const keyHandle = bytes.readUInt32LE(14)
  const nonce = bytes.subarray(18, 24)
  const keyHex = (JSON.parse(readFileSync(keyfile, 'utf8')) as Record<string, string>)[String(keyHandle)]!
  const key = Buffer.from(keyHex, 'hex')
  const ccmNonce = Buffer.concat([bytes.subarray(14, 18), nonce, Buffer.alloc(3)])
  const d = createDecipheriv(`aes-${key.length * 8}-ccm` as 'aes-256-ccm', key, ccmNonce, { authTagLength: 8 })
  d.setAuthTag(bytes.subarray(46))
  const plain = d.update(bytes.subarray(24, 46))
  d.final()
  return { keyHandle, nonce: Buffer.from(nonce), aesKeyHex: plain.toString('hex', 0, 16), uidHex: plain.toString('hex', 16, 22) }
}

export interface CsvCredential {
  n: number
  publicId: string
  uidHex: string
  keyHex: string
}

/** Parses yubikey-csv lines (`n,id,uid,key,000000000000,,,,,,`), checking the exact shape. */
export function parseYubikeyCsv (stdout: string): CsvCredential[] {
  return stdout.split('\n').filter((l) => l !== '').map((l) => {
    const m = /^(\d+),([cbdefghijklnrtuv]+),([0-9a-f]{12}),([0-9a-f]{32}),000000000000,,,,,,$/.exec(l)
    if (m === null) throw new Error(`not a yubikey-csv line: ${JSON.stringify(l)}`)
    return { n: Number(m[1]), publicId: m[2]!, uidHex: m[3]!, keyHex: m[4]! }
  })
}
