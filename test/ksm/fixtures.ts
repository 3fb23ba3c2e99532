// The pyhsm lab fixtures (read-only; see their README.md) and typed views of their JSON indexes.
import { readFileSync } from 'node:fs'
import path from 'node:path'
import { PYHSM_FIXTURES } from '../helpers/fixtures-path.js'

export const FIXTURES = PYHSM_FIXTURES

export const fixturePath = (rel: string): string => path.join(FIXTURES, rel)
const json = <T>(rel: string): T => JSON.parse(readFileSync(fixturePath(rel), 'utf8')) as T

export interface AeadFileFixture {
  path: string
  public_id_from_name: string
  key_handle_dir: string
  file_size: number
  file_hex: string
  format: string
  key_handle_used?: number
  nonce_used?: string
  aead_bytes?: string
  decrypts_with_keys_multi_json: string
  plaintext?: { yubikey_aes_key: string, private_uid: string }
}

export interface CredentialFixture {
  public_id: string
  public_id_hex: string
  tree: string
  aead_files: Array<{ path: string, key_handle_dir: string, key_handle_in_file: number, nonce_used: string, decrypts: string }>
  yubikey_aes_key: string
  private_uid: string
  made_by: string
}

export interface OtpCaseFixture {
  server: string
  case: string
  request: { method: string, path: string, http_version: string }
  otp?: string
  public_id?: string
  otp_plaintext_hex?: string
  otp_fields?: { private_uid: string, use_ctr: number, ts_low: number, ts_high: number, session_ctr: number, rnd: number, crc_stored: string }
  ok_line_if_accepted?: string
  response: { status: number, body: string }
}

export interface CcmVector {
  name: string
  aes_key: string
  key_handle: number
  nonce_in: string
  ccm_nonce_13: string
  plaintext: string
  aead: string
}

export const aeadFiles = (): AeadFileFixture[] => json('aead-files.json')
export const credentials = (): CredentialFixture[] => json('credentials.json')
export const otpCases = (): { servers: Record<string, { command: string }>, cases: OtpCaseFixture[] } => json('otp-cases.json')
export const ccmVectors = (): CcmVector[] => json('ccm-vectors.json')

/** The recorded `yhsm-yubikey-ksm` command line → keyfile, key handles (as typed), AEAD dir. */
export function serverSetup (name: string): { keyfile: string, keyHandles: string[], aeadDir: string } {
  const argv = otpCases().servers[name]!.command.split(/\s+/)
  const after = (flag: string): string => argv[argv.indexOf(flag) + 1]!
  let device = after('-D')
  // S3 reads the keyfile from stdin: `-D - ... < keys.json`
  if (device === '-') device = argv[argv.indexOf('<') + 1]!
  const khFlag = argv.findIndex((a) => a === '--key-handle' || a === '--key-handles')
  const keyHandles: string[] = []
  for (let i = khFlag + 1; i < argv.length && !argv[i]!.startsWith('-'); i++) keyHandles.push(argv[i]!)
  return { keyfile: fixturePath(device), keyHandles, aeadDir: fixturePath(after('-B')) }
}
