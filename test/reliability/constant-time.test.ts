// Secret comparisons go through crypto.timingSafeEqual: the request signature (h), the private uid of a
// decrypted OTP and the AEAD's CCM tag. node:crypto is wrapped so the test sees each call — it fails if
// any of them ever becomes a plain === or Buffer.equals.
import { randomBytes } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { readFileSync, readdirSync } from 'node:fs'
import path from 'node:path'

const calls = vi.hoisted(() => ({ n: 0 }))
vi.mock('node:crypto', async (importOriginal) => {
  const actual = await importOriginal<typeof import('node:crypto')>()
  const timingSafeEqual = (a: NodeJS.ArrayBufferView, b: NodeJS.ArrayBufferView): boolean => {
    calls.n++
    return actual.timingSafeEqual(a, b)
  }
  return { ...actual, default: { ...actual, timingSafeEqual }, timingSafeEqual }
})

const { buildSignString, signParams, verifyRequestSignature } = await import('../../src/wsapi/signature.js')
const { parseQueryString } = await import('../../src/wsapi/query-parse.js')
const { FastOtps, startInProcess } = await import('./helpers/in-process.js')
type InProcess = Awaited<ReturnType<typeof startInProcess>>

describe('constant-time comparisons of secrets', () => {
  let env: InProcess

  beforeAll(async () => {
    env = await startInProcess({ keyCount: 1 })
  }, 120_000)
  afterAll(async () => {
    await env?.close()
  })

  it('request signatures are compared with timingSafeEqual, right and wrong alike', () => {
    const key = randomBytes(20)
    const params = parseQueryString('id=1&nonce=abcdefabcdefabcdef&otp=vvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvv')
    const h = signParams(params.entries, key)
    expect(buildSignString(params.entries)).toContain('id=1&nonce=')
    for (const [given, expected] of [[h, true], [(h[0] === 'A' ? 'B' : 'A') + h.slice(1), false]] as const) {
      const before = calls.n
      expect(verifyRequestSignature(params, given, key)).toBe(expected)
      expect(calls.n - before).toBe(1)
    }
  })

  it('a verify compares the AEAD tag and the private uid with timingSafeEqual', async () => {
    const otps = new FastOtps(env.inst.keys[0]!)
    const before = calls.n
    const res = await env.app.inject({ method: 'GET', url: `/wsapi/2.0/verify?id=${env.inst.client.id}&otp=${otps.next().otp}&nonce=constantconstanttime` })
    expect(res.body).toContain('status=OK')
    // At least the CCM tag (first decrypt of this AEAD) and the uid.
    expect(calls.n - before).toBeGreaterThanOrEqual(2)
    const again = calls.n
    await env.app.inject({ method: 'GET', url: `/wsapi/2.0/verify?id=${env.inst.client.id}&otp=${otps.next().otp}&nonce=constantconstanttime` })
    // Cached AEAD: still the uid comparison.
    expect(calls.n - again).toBeGreaterThanOrEqual(1)
  })

  it('nothing on the request path compares a secret-looking value with === or .equals()', () => {
    const root = path.resolve(import.meta.dirname, '../../src')
    // What an attacker can time: the server and everything it calls (the CLI runs offline).
    const requestPath = /^(wsapi|val|ksm|otp|db|server)\//
    const offenders: string[] = []
    const secretish = /\b(h|mac|tag|hmac|signature|sig|uid|privateUid|secret|aesKey|key)\b\s*(===|!==|\.equals\()|(===|!==)\s*\b(h|mac|tag|hmac|signature|sig|uid|privateUid|secret|aesKey)\b/
    for (const e of readdirSync(root, { recursive: true, withFileTypes: true })) {
      const file = path.join(e.parentPath, e.name)
      if (!e.isFile() || !e.name.endsWith('.ts') || !requestPath.test(path.relative(root, file))) continue
      for (const [i, line] of readFileSync(file, 'utf8').split('\n').entries()) {
        const code = line.replace(/\/\/.*$/, '')
        if (secretish.test(code) && !/(===|!==) ['"`]|=== undefined|=== null|\.length|typeof /.test(code)) offenders.push(`${path.relative(root, file)}:${i + 1}: ${line.trim()}`)
      }
    }
    expect(offenders).toEqual([])
  })
})
