// Broken files and databases: a corrupt keyfile, damaged AEAD files, bad CSV imports, a schema that is
// missing or newer than the code. Each gives one clear error (a `yubival: ...` line naming the thing,
// no stack trace, no secret) and leaves nothing half-done behind.
import { randomBytes } from 'node:crypto'
import { chmodSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import pg from 'pg'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { runCli, type CliResult } from '../helpers/cli.js'
import { createInstallation, randomSoftKey, type TestInstallation } from '../helpers/environment.js'
import { startServer } from '../helpers/server-process.js'
import { yubiotpOtp } from '../helpers/yubiotp.js'
import { verify } from './helpers/verify-client.js'

/** Every file under dir with its bytes: "no partial state" means this does not change. */
function snapshot (dir: string): Record<string, string> {
  const out: Record<string, string> = {}
  const walk = (d: string): void => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name)
      if (e.isDirectory()) walk(p)
      else out[path.relative(dir, p)] = readFileSync(p).toString('base64')
    }
  }
  walk(dir)
  return out
}

/** A refusal: non-zero exit, a short `yubival:` error naming `mention`, no stack, none of `secrets`. */
function expectClearError (r: CliResult, mention: RegExp, secrets: string[] = []): void {
  expect(r.status, r.stderr).not.toBe(0)
  expect(r.status, r.stderr).not.toBeNull()
  const all = r.stdout + r.stderr
  expect(all).not.toMatch(/\n\s+at .+:\d+:\d+/)
  expect(r.stderr).toMatch(/^yubival: /m)
  expect(r.stderr).toMatch(mention)
  for (const s of secrets) expect(all.includes(s), 'a secret in the error output').toBe(false)
}

describe('corrupt keyfile, AEAD files, CSV imports and database schema', () => {
  let inst: TestInstallation
  let keyfileKey: string
  const broken: string[] = []

  beforeAll(async () => {
    inst = await createInstallation({ keyCount: 3 })
    keyfileKey = (JSON.parse(readFileSync(inst.env.YUBIVAL_KEYFILE!, 'utf8')) as Record<string, string>)['1']!
  })
  afterAll(async () => {
    await inst?.cleanup()
  })

  function badKeyfile (name: string, content: string | null, mode = 0o400): string {
    const file = path.join(inst.dir, `bad-${name}`)
    if (content === null) mkdirSync(file)
    else {
      writeFileSync(file, content)
      chmodSync(file, mode)
    }
    broken.push(file)
    return file
  }

  it('a corrupt or exposed keyfile stops every KSM command and `serve` with one clear error', async () => {
    const cases: Array<[string, string]> = [
      ['not JSON', badKeyfile('json', '{ "1": ')],
      ['array', badKeyfile('array', JSON.stringify([keyfileKey]))],
      ['empty', badKeyfile('empty', '{}')],
      ['short key', badKeyfile('short', JSON.stringify({ 1: keyfileKey.slice(0, 31) }))],
      ['non-hex key', badKeyfile('nonhex', JSON.stringify({ 1: 'z' + keyfileKey.slice(1) }))],
      ['bad handle', badKeyfile('handle', JSON.stringify({ 'not a handle': keyfileKey }))],
      ['world-readable', badKeyfile('mode', JSON.stringify({ 1: keyfileKey }), 0o644)],
      ['a directory', badKeyfile('dir', null)],
      ['missing', path.join(inst.dir, 'no-such-keyfile.json')]
    ]
    const aeadsBefore = snapshot(inst.env.YUBIVAL_AEAD_DIR!)
    const csv = path.join(inst.dir, 'one.csv')
    writeFileSync(csv, `# ykksm 1\n1,${randomSoftKey().publicId},${randomBytes(6).toString('hex')},${randomBytes(16).toString('hex')},000000000000,,\n`)
    for (const [i, [label, keyfile]] of cases.entries()) {
      const env = { ...inst.env, YUBIVAL_KEYFILE: keyfile, YUBIVAL_PORT: '0', YUBIVAL_ADMIN_PORT: '0' }
      // Every command on a few kinds of damage; serve and check on all of them (each run is a process).
      const commands = i < 3 ? [['serve'], ['keys', 'check'], ['keys', 'export'], ['keys', 'import', csv]] : [['serve'], ['keys', 'check']]
      for (const args of commands) {
        const r = runCli(args, { env })
        expectClearError(r, /keyfile/i, [keyfileKey])
        expect(r.stderr.trim().split('\n').length, `${label}: ${args.join(' ')}: one error\n${r.stderr}`).toBeLessThanOrEqual(2)
        expect(r.stdout, `${label}: ${args.join(' ')}`).toBe('')
      }
    }
    expect(snapshot(inst.env.YUBIVAL_AEAD_DIR!)).toEqual(aeadsBefore)
  }, 180_000)

  it('bad CSV imports are refused as a whole: no AEAD file is written', () => {
    const good = (k = randomSoftKey()): string => `1,${k.publicId},${k.privateUidHex},${k.aesKeyHex},000000000000,,`
    const dup = randomSoftKey()
    const cases: Array<[string, string]> = [
      ['bad AES key at the end', `# ykksm 1\n${good()}\n${good()}\n1,${randomSoftKey().publicId},0123456789ab,nothex,000000000000,,\n`],
      ['bad public id', `# ykksm 1\n${good()}\n1,not-modhex!,0123456789ab,${randomBytes(16).toString('hex')},000000000000,,\n`],
      ['bad uid', `# ykksm 1\n${good()}\n1,${randomSoftKey().publicId},0123,${randomBytes(16).toString('hex')},000000000000,,\n`],
      ['duplicate public id', `# ykksm 1\n${good(dup)}\n${good(dup)}\n`],
      ['existing public id', `# ykksm 1\n${good()}\n1,${inst.keys[0]!.publicId},${randomBytes(6).toString('hex')},${randomBytes(16).toString('hex')},000000000000,,\n`],
      ['binary garbage', `# ykksm 1\n${good()}\n${randomBytes(200).toString('latin1')}\n`],
      ['too few fields', `# ykksm 1\n${good()}\n1,${randomSoftKey().publicId}\n`]
    ]
    const before = snapshot(inst.env.YUBIVAL_AEAD_DIR!)
    for (const [label, text] of cases) {
      const file = path.join(inst.dir, 'bad.csv')
      writeFileSync(file, text, 'latin1')
      const r = runCli(['keys', 'import', file], { env: inst.env })
      expectClearError(r, /line \d+|bad\.csv|already exist/i, [keyfileKey])
      expect(snapshot(inst.env.YUBIVAL_AEAD_DIR!), label).toEqual(before)
    }
  })

  it('bad `clients import` files change no client', () => {
    const before = runCli(['clients', 'export'], { env: inst.env })
    expect(before.status).toBe(0)
    const file = path.join(inst.dir, 'clients.csv')
    for (const text of [
      `100,1,1700000000,${randomBytes(20).toString('base64')},,,\n101,1,1700000000,not base64!!,,,\n`,
      `102,1,1700000000,${randomBytes(20).toString('base64')},,,\nxyz\n`,
      `${inst.client.id},1,1700000000,${randomBytes(20).toString('base64')},,,\n`
    ]) {
      writeFileSync(file, text)
      const r = runCli(['clients', 'import', file], { env: inst.env })
      expectClearError(r, /clients\.csv|line \d+|client/i, [inst.client.key])
      expect(runCli(['clients', 'export'], { env: inst.env }).stdout).toBe(before.stdout)
    }
  })

  it('damaged AEAD files: `keys check` names each one; `serve` answers BACKEND_ERROR for those keys only', async () => {
    const files = readdirSync(inst.env.YUBIVAL_AEAD_DIR!, { recursive: true, withFileTypes: true })
      .filter((e) => e.isFile()).map((e) => path.join(e.parentPath, e.name))
    const byKey = inst.keys.map((k) => files.find((f) => path.basename(f) === k.publicId)!)
    expect(byKey.every((f) => f !== undefined)).toBe(true)
    const original = readFileSync(byKey[0]!)
    // Key 0: one flipped bit (fails authentication). Key 1: truncated (unreadable). Key 2 stays intact.
    const flipped = Buffer.from(original)
    flipped[flipped.length - 1] = flipped[flipped.length - 1]! ^ 1
    writeFileSync(byKey[0]!, flipped)
    const truncated = readFileSync(byKey[1]!).subarray(0, 10)
    writeFileSync(byKey[1]!, truncated)
    try {
      const check = runCli(['keys', 'check'], { env: inst.env })
      expect(check.status).toBe(1)
      expect(check.stdout + check.stderr).toContain(inst.keys[0]!.publicId)
      expect(check.stdout + check.stderr).toContain(inst.keys[1]!.publicId)
      expect(check.stdout + check.stderr).not.toContain(keyfileKey)

      const server = await startServer({ ...inst.env, YUBIVAL_ADMIN_PORT: '0' })
      try {
        const statuses = []
        for (const [i, key] of inst.keys.entries()) statuses.push((await verify(server.url, inst.client, yubiotpOtp(key, 1000 + i, 0))).status)
        expect(statuses).toEqual(['BACKEND_ERROR', 'BACKEND_ERROR', 'OK'])
      } finally {
        await server.stop()
      }
    } finally {
      writeFileSync(byKey[0]!, original)
    }
  }, 60_000)

  describe.skipIf(process.env.TEST_DATABASE_URL === undefined)('database schema (PostgreSQL)', () => {
    async function onDb<T> (fn: (c: pg.Client) => Promise<T>): Promise<T> {
      const c = new pg.Client({ connectionString: inst.env.DATABASE_URL })
      await c.connect()
      try {
        return await fn(c)
      } finally {
        await c.end()
      }
    }

    it('a schema newer than the code: serve, migrate and client commands refuse with one clear error and change nothing', async () => {
      const version = await onDb(async (c) => (await c.query<{ v: number }>('SELECT max(version)::int AS v FROM yubival_schema_version')).rows[0]!.v)
      await onDb(async (c) => c.query("INSERT INTO yubival_schema_version (version, name, md5, run_at) VALUES ($1, 'from-the-future', 'x', now())", [version + 1]))
      try {
        const clientsBefore = await onDb(async (c) => (await c.query('SELECT * FROM clients ORDER BY id')).rows)
        const env = { ...inst.env, YUBIVAL_PORT: '0', YUBIVAL_ADMIN_PORT: '0' }
        for (const args of [['serve'], ['migrate'], ['clients', 'gen']]) {
          const r = runCli(args, { env })
          expectClearError(r, new RegExp(`version ${version + 1}`), [inst.client.key])
        }
        expect(await onDb(async (c) => (await c.query('SELECT * FROM clients ORDER BY id')).rows)).toEqual(clientsBefore)
      } finally {
        await onDb(async (c) => c.query('DELETE FROM yubival_schema_version WHERE version = $1', [version + 1]))
      }
    }, 60_000)

    it('a missing schema is created by `serve`; an empty database never half-migrates', async () => {
      // A fresh database (no tables at all) next to the installation's.
      const url = new URL(inst.env.DATABASE_URL!)
      const name = `yubival_empty_${randomBytes(4).toString('hex')}`
      const admin = new pg.Client({ connectionString: process.env.TEST_DATABASE_URL })
      await admin.connect()
      await admin.query(`CREATE DATABASE ${name}`)
      url.pathname = `/${name}`
      try {
        const env = { ...inst.env, DATABASE_URL: url.toString(), YUBIVAL_ADMIN_PORT: '0' }
        const list = runCli(['clients', 'list', '--json'], { env })
        if (list.status !== 0) expectClearError(list, /schema|migrat|database/i)
        const server = await startServer(env)
        await server.stop()
        const tables = new pg.Client({ connectionString: url.toString() })
        await tables.connect()
        const { rows } = await tables.query<{ n: string }>("SELECT count(*) AS n FROM information_schema.tables WHERE table_name IN ('clients', 'yubikeys')")
        await tables.end()
        expect(rows[0]!.n).toBe('2')
      } finally {
        await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)
        await admin.end()
      }
    }, 60_000)
  })

  it('a keyfile the CLI creates is private (no group or world bits), and so is the AEAD tree', () => {
    const dataDir = path.join(inst.dir, 'fresh-data')
    const csv = path.join(inst.dir, 'fresh.csv')
    const k = randomSoftKey()
    writeFileSync(csv, `# ykksm 1\n1,${k.publicId},${k.privateUidHex},${k.aesKeyHex},000000000000,,\n`)
    const r = runCli(['keys', 'import', csv], { env: { PATH: process.env.PATH ?? '', YUBIVAL_DATA_DIR: dataDir } })
    expect(r.status, r.stderr).toBe(0)
    expect(statSync(path.join(dataDir, 'keys.json')).mode & 0o077).toBe(0)
    expect(statSync(path.join(dataDir, 'aeads')).mode & 0o077).toBe(0)
    expect(r.stdout + r.stderr).not.toContain(k.aesKeyHex)
    for (const f of broken) rmSync(f, { recursive: true, force: true })
  })
})
