// Needs `npm run build` (spawns bin/yubival).
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { afterEach, describe, expect, test } from 'vitest'
import { runCli, type CliResult } from '../helpers/cli.js'
import { createTestDatabase, testBackends, type TestDatabase } from '../helpers/database.js'
import { BIN } from '../helpers/server-process.js'

const ENV = { DATABASE_URL: '' }
const LINE = /^(\d+),([A-Za-z0-9+/]{27}=)$/

function parseLines (stdout: string): Array<{ id: number, secret: string }> {
  expect(stdout.endsWith('\n')).toBe(true)
  return stdout.slice(0, -1).split('\n').map((l) => {
    const m = LINE.exec(l)
    expect(m, `line ${JSON.stringify(l)}`).not.toBeNull()
    return { id: Number(m![1]), secret: m![2]! }
  })
}

async function runCliAsync (args: string[]): Promise<CliResult> {
  const child = spawn(process.execPath, [BIN, ...args], { env: { ...process.env, ...ENV } })
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (d: Buffer) => { stdout += d.toString() })
  child.stderr.on('data', (d: Buffer) => { stderr += d.toString() })
  const [status] = await once(child, 'close') as [number | null]
  return { status, stdout, stderr }
}

describe.each(testBackends())('yubival clients gen on %s', (backend) => {
  let t: TestDatabase
  afterEach(async () => { await t.drop() })

  test('creates clients on a fresh database (migrating it), one "id,key" line each, like ykval-gen-clients', async () => {
    t = await createTestDatabase({ backend, migrate: false })
    await t.close()
    const one = runCli(['clients', 'gen', ...t.cliArgs], { env: ENV })
    expect(one.stderr).toBe('')
    expect(one.status).toBe(0)
    expect(parseLines(one.stdout).map((c) => c.id)).toEqual([1])

    // ykval-gen-clients spellings: --opt=value and --urandom.
    const three = runCli(['clients', 'gen', '--notes=ci runner', '--email=ops@example.com', '--otp=cccccccccccbtest', '--urandom', ...t.cliArgs, '3'], { env: ENV })
    expect(three.status).toBe(0)
    const made = parseLines(three.stdout)
    expect(made.map((c) => c.id)).toEqual([2, 3, 4])

    await t.reopen()
    const { rows } = await t.db.query('SELECT id, active, secret, email, notes, otp FROM clients WHERE id > 1 ORDER BY id')
    expect(rows).toEqual(made.map((c) => ({ id: c.id, active: true, secret: c.secret, email: 'ops@example.com', notes: 'ci runner', otp: 'cccccccccccbtest' })))
    const created = (await t.db.query<{ created: number }>('SELECT created FROM clients WHERE id = 1')).rows[0]!.created
    expect(Math.abs(created - Date.now() / 1000)).toBeLessThan(3600)
  })

  test('a bad N or an over-long option is refused (exit 2), nothing is printed or created', async () => {
    t = await createTestDatabase({ backend })
    await t.close()
    for (const n of ['0', '-1', 'x', '1.5', '100001']) {
      const r = runCli(['clients', 'gen', ...t.cliArgs, '--', n], { env: ENV })
      expect(r.status, n).toBe(2)
      expect(r.stdout).toBe('')
      expect(r.stderr).toBe(`yubival: N (number of clients) must be a whole number from 1 to 100000, got ${JSON.stringify(n)}\n`)
    }
    const long = runCli(['clients', 'gen', '--notes', 'n'.repeat(101), ...t.cliArgs], { env: ENV })
    expect(long.status).toBe(2)
    expect(long.stderr).toBe('yubival: notes is 101 characters long; the clients table allows at most 100\n')
    await t.reopen()
    expect((await t.db.query('SELECT count(*)::int AS n FROM clients')).rows).toEqual([{ n: 0 }])
  })
})

describe.runIf(testBackends().includes('postgresql'))('yubival clients gen concurrency (PostgreSQL)', () => {
  let t: TestDatabase
  afterEach(async () => { await t.drop() })

  test('several runs at once on a fresh database all succeed with distinct consecutive ids', async () => {
    t = await createTestDatabase({ backend: 'postgresql', migrate: false })
    const runs = await Promise.all(Array.from({ length: 4 }, async () => runCliAsync(['clients', 'gen', ...t.cliArgs, '5'])))
    for (const r of runs) {
      expect(r.stderr).toBe('')
      expect(r.status).toBe(0)
    }
    const ids = runs.flatMap((r) => parseLines(r.stdout).map((c) => c.id)).sort((a, b) => a - b)
    expect(ids).toEqual(Array.from({ length: 20 }, (_, i) => i + 1))
  })
})

describe('yubival clients gen with the embedded database in use', () => {
  let t: TestDatabase
  afterEach(async () => { await t.drop() })

  test('refuses with a clear error instead of opening it twice', async () => {
    t = await createTestDatabase({ backend: 'pglite' })
    const r = runCli(['clients', 'gen', ...t.cliArgs], { env: ENV })
    expect(r.status).toBe(1)
    expect(r.stdout).toBe('')
    expect(r.stderr).toMatch(new RegExp(`^yubival: embedded database .*pglite is in use by process ${process.pid}; stop that process first, or set DATABASE_URL`))
  })
})
