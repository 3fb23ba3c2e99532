// No secret in any log line or command output: a trace-level server answers every status it can give,
// then every CLI command that `yubival --help` lists (found recursively at test time, so new commands are
// covered the day they appear) runs with its placeholders filled in, plain and with --json when offered.
// Nowhere may a client secret, the keyfile key, a YubiKey AES key, a private uid or a whole OTP appear
// (hex, HEX, base64, base64url, modhex) — except on stdout of the commands whose job is to print them.
import { randomBytes } from 'node:crypto'
import { readdirSync, readFileSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { runCli } from '../helpers/cli.js'
import { createInstallation, randomPublicId, randomSoftKey, type TestInstallation } from '../helpers/environment.js'
import { startServer } from '../helpers/server-process.js'
import { randomNonce, sign } from '../helpers/wsapi-client.js'
import { yubiotpOtp } from '../helpers/yubiotp.js'
import { verify } from './helpers/verify-client.js'

const MODHEX = 'cbdefghijklnrtuv'
const toModhex = (b: Buffer): string => [...b.toString('hex')].map((c) => MODHEX[parseInt(c, 16)]).join('')

/** Commands whose stdout exists to show a secret (matched against the command path and its args). */
const PRINTS_SECRETS: Array<(cmd: string, args: string[]) => boolean> = [
  (cmd) => cmd === 'clients gen',
  (cmd) => cmd === 'clients rotate',
  (cmd) => cmd === 'clients export',
  (cmd, args) => cmd === 'keys export' && !args.includes('ykval'),
  (cmd, args) => cmd === 'keys generate' && args.includes('--print')
]

interface Secret { label: string, forms: string[] }

function bytesSecret (label: string, b: Buffer): Secret {
  const b64 = b.toString('base64')
  return { label, forms: [b.toString('hex'), b.toString('hex').toUpperCase(), b64, b64.replace(/=+$/, ''), b.toString('base64url'), toModhex(b)] }
}

function otpSecret (otp: string): Secret {
  const token = otp.slice(-32)
  return { label: `OTP ${otp.slice(0, -32)}…`, forms: [otp, otp.toUpperCase(), token, token.toUpperCase()] }
}

/** Lists `yubival <path>`'s subcommands with their usage lines, depth first. */
function discoverCommands (prefix: string[] = []): Array<{ path: string[], usage: string, help: string }> {
  const r = runCli([...prefix, '--help'])
  const help = r.stdout
  const section = help.split(/\nCommands:\n/)[1]
  if (section === undefined) return [{ path: prefix, usage: /^Usage: (.*)$/m.exec(help)?.[1] ?? '', help }]
  const names = section.split('\n').filter((l) => /^ {2}\S/.test(l)).map((l) => l.trim().split(/\s+/)[0]!).filter((n) => n !== 'help')
  return names.flatMap((n) => discoverCommands([...prefix, n]))
}

describe('secret hygiene: logs and outputs', () => {
  let inst: TestInstallation
  const secrets: Secret[] = []
  const outputs: Array<{ where: string, text: string }> = []
  const statuses = new Set<string>()
  const otpsUsed: string[] = []

  beforeAll(async () => {
    inst = await createInstallation({ keyCount: 4 })
    const keyfile = JSON.parse(readFileSync(inst.env.YUBIVAL_KEYFILE!, 'utf8')) as Record<string, string>
    for (const [kh, hex] of Object.entries(keyfile)) secrets.push(bytesSecret(`keyfile key ${kh}`, Buffer.from(hex, 'hex')))
    secrets.push({ label: 'client secret', forms: [inst.client.key, ...bytesSecret('', Buffer.from(inst.client.key, 'base64')).forms] })
    for (const k of inst.keys) {
      secrets.push(bytesSecret(`AES key of ${k.publicId}`, Buffer.from(k.aesKeyHex, 'hex')))
      secrets.push(bytesSecret(`private uid of ${k.publicId}`, Buffer.from(k.privateUidHex, 'hex')))
    }
  })
  afterAll(async () => {
    await inst?.cleanup()
  })

  it('a trace-level server answering every status logs no secret', async () => {
    // Key 3's AEAD is damaged so that its OTPs give BACKEND_ERROR.
    const aeads = readdirSync(inst.env.YUBIVAL_AEAD_DIR!, { recursive: true, withFileTypes: true }).filter((e) => e.isFile())
    const damaged = aeads.find((e) => e.name === inst.keys[3]!.publicId)!
    const file = path.join(damaged.parentPath, damaged.name)
    const original = readFileSync(file)
    const flipped = Buffer.from(original)
    flipped[flipped.length - 1] = flipped[flipped.length - 1]! ^ 1
    writeFileSync(file, flipped)

    const server = await startServer({ ...inst.env, YUBIVAL_LOG_LEVEL: 'trace', YUBIVAL_ADMIN_PORT: '0' })
    try {
      const [k0, k1, , k3] = inst.keys as [typeof inst.keys[0], typeof inst.keys[0], unknown, typeof inst.keys[0]]
      const otp = (key: typeof k0, counter: number): string => {
        const o = yubiotpOtp(key, counter, 0)
        otpsUsed.push(o)
        return o
      }
      const send = async (o: string, opts: Parameters<typeof verify>[3] = {}, client = inst.client): Promise<void> => {
        statuses.add((await verify(server.url, client, o, opts)).status)
      }
      const a = otp(k0, 1)
      const nonce = randomNonce()
      await send(a, { nonce }) // OK
      await send(a, { nonce }) // REPLAYED_REQUEST
      await send(a) // REPLAYED_OTP
      await send(otp(k0, 2), { path: '/wsapi/verify' }) // OK, protocol 1.0
      await send(otp(k1, 1), {}, { id: inst.client.id, key: randomBytes(20).toString('base64') }) // BAD_SIGNATURE
      await send(otp(k1, 2), {}, { id: 999_999, key: '' }) // NO_SUCH_CLIENT
      await send(otp(randomSoftKey(), 1)) // BAD_OTP: unknown key
      const good = otp(k1, 3)
      await send(good.slice(0, -1) + (good.endsWith('c') ? 'b' : 'c')) // BAD_OTP: broken token
      await send(otp(k3, 1)) // BACKEND_ERROR
      const res = await fetch(`${server.url}/wsapi/2.0/verify?id=${inst.client.id}&otp=${otp(k1, 4)}&h=${encodeURIComponent(sign({ x: '1' }, inst.client.key))}`)
      statuses.add(/status=(\w+)/.exec(await res.text())?.[1] ?? '') // MISSING_PARAMETER (no nonce)
      // A request that carries the client secret itself as a parameter value must not echo it either.
      await fetch(`${server.url}/wsapi/2.0/verify?id=${inst.client.id}&otp=${otp(k1, 5)}&nonce=${randomNonce()}&key=${encodeURIComponent(inst.client.key)}`)
      await fetch(`${server.url}/readyz`)
    } finally {
      await server.stop()
      writeFileSync(file, original)
    }
    outputs.push({ where: 'server log (trace)', text: server.output() })
    expect(server.output()).toContain('"msg":"verify"')
    expect([...statuses].sort()).toEqual(['BACKEND_ERROR', 'BAD_OTP', 'BAD_SIGNATURE', 'MISSING_PARAMETER', 'NO_SUCH_CLIENT', 'OK', 'REPLAYED_OTP', 'REPLAYED_REQUEST'])
  }, 120_000)

  it('every CLI command, plain and --json, prints no secret outside its purpose', () => {
    const commands = discoverCommands().filter((c) => c.path[0] !== 'serve')
    // Destructive commands last, so the others still find what they look at.
    commands.sort((a, b) => Number(/delete|rotate/.test(a.path.join(' '))) - Number(/delete|rotate/.test(b.path.join(' '))))
    expect(commands.length).toBeGreaterThan(5)

    // Material for placeholders: a new key to import and one more client to import.
    const newKey = randomSoftKey()
    secrets.push(bytesSecret('AES key of imported key', Buffer.from(newKey.aesKeyHex, 'hex')))
    secrets.push(bytesSecret('private uid of imported key', Buffer.from(newKey.privateUidHex, 'hex')))
    const ykksmCsv = path.join(inst.dir, 'hygiene-keys.csv')
    writeFileSync(ykksmCsv, `# ykksm 1\n1,${newKey.publicId},${newKey.privateUidHex},${newKey.aesKeyHex},000000000000,,\n`, { mode: 0o600 })
    const importedSecret = randomBytes(20).toString('base64')
    secrets.push({ label: 'imported client secret', forms: [importedSecret] })
    const clientsCsv = path.join(inst.dir, 'hygiene-clients.csv')
    writeFileSync(clientsCsv, `${inst.client.id + 50},1,1700000000,${importedSecret},,,\n`, { mode: 0o600 })
    const badCsv = path.join(inst.dir, 'hygiene-bad.csv')
    const badKey = randomSoftKey()
    secrets.push(bytesSecret('AES key in a rejected CSV', Buffer.from(badKey.aesKeyHex, 'hex')))
    writeFileSync(badCsv, `# ykksm 1\n1,${badKey.publicId},${badKey.privateUidHex},${badKey.aesKeyHex},000000000000,,\n1,${badKey.publicId},zz,${badKey.aesKeyHex},000000000000,,\n`, { mode: 0o600 })
    const decodeOtp = yubiotpOtp(inst.keys[2]!, 7, 0)
    otpsUsed.push(decodeOtp)

    const fill = (cmd: string, usage: string, help: string): string[][] => {
      const positional = (placeholder: string): string => {
        const p = placeholder.replace(/[<>[\].]/g, '').toLowerCase()
        if (p === 'pubid') return cmd === 'keys delete' ? newKey.publicId : inst.keys[2]!.publicId
        if (p === 'id') return String(inst.client.id)
        if (p === 'otp') return decodeOtp
        if (p === 'n') return '1'
        if (p === 'file') return cmd === 'clients import' ? clientsCsv : ykksmCsv
        return 'x'
      }
      const args = (usage.split(' [options]')[1] ?? '').trim().split(/\s+/).filter((s) => s !== '').map(positional)
      const runs = [args]
      if (cmd === 'keys generate') runs.splice(0, 1, ['--start-public-id', randomPublicId(), '--count', '2', '--print', 'csv'], ['--start-public-id', randomPublicId()])
      if (cmd === 'keys export') runs.push(['--format', 'ykval'])
      if (cmd === 'keys import') runs.push([badCsv])
      if (cmd === 'clients import') runs.push([badCsv])
      if (cmd === 'otp decode') runs.push([yubiotpOtp(inst.keys[3]!, 9, 0)])
      // Confirmations of destructive commands: the point is to run them.
      if (/ (reset|delete)$/.test(cmd) && /--force/.test(help)) for (const r of runs) r.push('--force')
      return runs
    }

    const ran: string[] = []
    for (const c of commands) {
      const cmd = c.path.join(' ')
      const runs = fill(cmd, c.usage, c.help)
      if (/--json/.test(c.help)) runs.push(...runs.map((r) => [...r, '--json']))
      for (const args of runs) {
        const r = runCli([...c.path, ...args], { env: { ...inst.env, YUBIVAL_LOG_LEVEL: 'trace' } })
        expect(r.status, `yubival ${cmd} ${args.join(' ')} was killed`).not.toBeNull()
        ran.push(`${cmd} ${args.join(' ')} → ${r.status}`)
        if (cmd === 'keys generate' && args.includes('--print')) {
          // New credentials: now secrets for every other output.
          for (const line of r.stdout.split('\n').filter((l) => /^\d+,/.test(l))) {
            const [, , uid, aes] = line.split(',')
            if (uid !== undefined && aes !== undefined) {
              secrets.push(bytesSecret('generated AES key', Buffer.from(aes, 'hex')), bytesSecret('generated uid', Buffer.from(uid, 'hex')))
            }
          }
        }
        if (cmd === 'clients rotate' || cmd === 'clients gen') {
          for (const m of r.stdout.matchAll(/^\d+,([A-Za-z0-9+/]{27}=)$/gm)) secrets.push({ label: `${cmd} secret`, forms: [m[1]!] })
        }
        const exempt = PRINTS_SECRETS.some((p) => p(cmd, args))
        if (!exempt) outputs.push({ where: `stdout of yubival ${cmd} ${args.join(' ')}`, text: r.stdout })
        outputs.push({ where: `stderr of yubival ${cmd} ${args.join(' ')}`, text: r.stderr })
      }
    }
    for (const o of otpsUsed) secrets.push(otpSecret(o))

    const leaks: string[] = []
    for (const { where, text } of outputs) {
      for (const s of secrets) {
        const form = s.forms.find((f) => f.length >= 8 && text.includes(f))
        if (form !== undefined) leaks.push(`${where}: ${s.label} (${form === s.forms[0] ? 'as stored' : 'encoded'})`)
      }
    }
    if (process.env.RELIABILITY_VERBOSE !== undefined) console.log(ran.join('\n'))
    expect(leaks).toEqual([])
    // Each discovered command ran at least once.
    for (const c of commands) expect(ran.some((r) => r.startsWith(c.path.join(' ') + ' '))).toBe(true)
  }, 300_000)
})
