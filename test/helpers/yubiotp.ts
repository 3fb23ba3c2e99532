// OTPs from an independent implementation: Debian's python3-yubiotp (not our encoder).
import { spawnSync } from 'node:child_process'

export interface SoftKey {
  publicId: string
  aesKeyHex: string
  privateUidHex: string
}

const SCRIPT = `
import sys, json, random
from binascii import unhexlify as u
from yubiotp.otp import OTP, encode_otp
out = []
for spec in json.loads(sys.stdin.read()):
    o = OTP(u(spec['uid']), spec['counter'], spec.get('ts', random.randrange(1 << 24)), spec['use'], random.randrange(1 << 16))
    out.append(encode_otp(o, u(spec['key']), spec['pub'].encode()).decode())
print(json.dumps(out))
`

/** Generates OTPs with python3-yubiotp; `counter` is the usage counter, `use` the session use (0..255). */
export function yubiotpOtps (key: SoftKey, specs: Array<{ counter: number, use: number, ts?: number }>): string[] {
  const input = JSON.stringify(specs.map((s) => ({
    pub: key.publicId, key: key.aesKeyHex, uid: key.privateUidHex, counter: s.counter, use: s.use, ...(s.ts !== undefined ? { ts: s.ts } : {})
  })))
  const r = spawnSync('/usr/bin/python3', ['-c', SCRIPT], { input, encoding: 'utf8' })
  if (r.status !== 0) throw new Error(`python3-yubiotp failed (is python3-yubiotp installed?): ${r.stderr}`)
  return JSON.parse(r.stdout) as string[]
}

export function yubiotpOtp (key: SoftKey, counter: number, use: number): string {
  const [otp] = yubiotpOtps(key, [{ counter, use }])
  if (otp === undefined) throw new Error('python3-yubiotp returned nothing')
  return otp
}
