// clients list/disable/enable/rotate/export/import through the real CLI. Needs `npm run build`.
import { afterEach, describe, expect, test } from 'vitest'
import { runCli, type CliResult } from '../helpers/cli.js'
import { createTestDatabase, type TestDatabase } from '../helpers/database.js'

const ENV = { DATABASE_URL: '' }

// yubikey-val's documented example line, plus an inactive client and a note that needs quoting
const SECRET_A = 'qPCQ3zIrALi3QAm0aA/oGBoaVwI='
const CSV = [
  '# exported by ykval-export-clients',
  '1,1,1359550387,foobar,user@example.com,,cccccccccccbubfncnklbknnkrfvfkbubftlfliikdrt',
  '',
  `5,0,1400000000,${SECRET_A},,"rack 2, ""old"" box",`,
  '9,1,1500000000,c2VjcmV0c2VjcmV0c2VjcmV0MTI=,ops@example.com,ci,'
].join('\n') + '\n'

// One backend (PostgreSQL when TEST_DATABASE_URL is set, else PGlite): every CLI run on PGlite pays for
// starting the WASM database, and the SQL is PostgreSQL's on both.
describe('yubival clients admin commands', () => {
  const backend = process.env.TEST_DATABASE_URL ? 'postgresql' as const : 'pglite' as const
  let t: TestDatabase
  afterEach(async () => { await t.drop() })

  const cli = (args: string[], input?: string): CliResult => runCli(['clients', ...args, ...t.cliArgs], { env: ENV, input })

  async function rows (): Promise<unknown[]> {
    await t.reopen()
    const r = await t.db.query('SELECT id, active, created, secret, email, notes, otp FROM clients ORDER BY id')
    await t.close()
    return r.rows
  }

  test('import keeps ids, secrets, created, flags and notes; export prints them back in yubikey-val\'s format', async () => {
    t = await createTestDatabase({ backend })
    await t.close()
    const imp = cli(['import', '-'], CSV)
    expect(imp.stderr).toBe('yubival: imported 3 clients from standard input: 3 new\n')
    expect(imp.status).toBe(0)
    expect(await rows()).toEqual([
      { id: 1, active: true, created: 1359550387, secret: 'foobar', email: 'user@example.com', notes: '', otp: 'cccccccccccbubfncnklbknnkrfvfkbubftlfliikdrt' },
      { id: 5, active: false, created: 1400000000, secret: SECRET_A, email: '', notes: 'rack 2, "old" box', otp: '' },
      { id: 9, active: true, created: 1500000000, secret: 'c2VjcmV0c2VjcmV0c2VjcmV0MTI=', email: 'ops@example.com', notes: 'ci', otp: '' }
    ])
    const exp = cli(['export'])
    expect(exp.status).toBe(0)
    expect(exp.stdout).toBe(CSV.split('\n').filter((l) => /^\d/.test(l)).join('\n') + '\n')

    // the same file again: every id is there with the same secret
    const again = cli(['import', '-'], CSV)
    expect(again.status).toBe(0)
    expect(again.stderr).toBe('yubival: imported 3 clients from standard input: 0 new, 3 unchanged (already there with the same secret: 1, 5, 9)\n')

    // gen continues after the highest imported id
    expect(cli(['gen']).stdout).toMatch(/^10,[A-Za-z0-9+/]{27}=\n$/)
  })

  test('an existing id with another secret refuses the whole import unless --replace', async () => {
    t = await createTestDatabase({ backend })
    await t.close()
    expect(cli(['import', '-'], CSV).status).toBe(0)
    const changed = CSV.replace('foobar', 'newsecret') + '12,1,1600000000,bmV3,,,\n'
    const refused = cli(['import', '-'], changed)
    expect(refused.status).toBe(1)
    expect(refused.stderr).toBe('yubival: standard input rejected, nothing imported (1 problem):\n' +
      '  line 2, secret: client id 1 already exists with a different secret (--replace overwrites it)\n')
    expect(refused.stderr).not.toContain('newsecret')
    expect((await rows()).map((r) => (r as { id: number }).id)).toEqual([1, 5, 9])

    const replaced = cli(['import', '--replace', '-'], changed)
    expect(replaced.status).toBe(0)
    expect(replaced.stderr).toBe('yubival: imported 4 clients from standard input: 1 new, 2 unchanged (already there with the same secret: 5, 9), 1 replaced (1)\n')
    const after = await rows() as Array<{ id: number, secret: string }>
    expect(after.map((r) => [r.id, r.secret])).toEqual([[1, 'newsecret'], [5, SECRET_A], [9, 'c2VjcmV0c2VjcmV0c2VjcmV0MTI='], [12, 'bmV3']])
  })

  test('bad lines are all reported with line and field, and nothing is imported', async () => {
    t = await createTestDatabase({ backend })
    await t.close()
    const bad = [
      '3,1,1359550387,s3cret,,,',
      'x,1,1359550387,s3cret,,,',
      '4,yes,1359550387,s3cret,,,',
      '6,1,yesterday,s3cret,,,',
      '7,1,1359550387,,,,',
      '3,1,1359550387,another,,,',
      '8,1,1359550387,s3cret,,,,extra',
      `10,1,1359550387,s3cret,,${'n'.repeat(101)},`
    ].join('\n')
    const r = cli(['import', '-'], bad)
    expect(r.status).toBe(1)
    expect(r.stderr).toBe([
      'yubival: standard input rejected, nothing imported (7 problems):',
      '  line 2, id: must be a whole number from 1 to 2147483647, got "x"',
      '  line 3, active: must be 1 or 0, got "yes"',
      '  line 4, created: must be a Unix time in seconds, got "yesterday"',
      '  line 5, secret: is empty',
      '  line 6, id: client id 3 is also on line 1',
      '  line 7, line: expected 7 comma-separated fields (id,active,created,secret,email,notes,otp), got 8',
      '  line 8, notes: is 101 characters long; the clients table allows at most 100',
      ''
    ].join('\n'))
    expect(r.stderr).not.toContain('s3cret')
    expect(await rows()).toEqual([])
  })

  test('list never shows secrets; disable, enable and rotate change one client; unknown ids are errors', async () => {
    t = await createTestDatabase({ backend })
    await t.close()
    expect(cli(['import', '-'], CSV).status).toBe(0)
    const list = cli(['list'])
    expect(list.status).toBe(0)
    expect(list.stdout.split('\n')[0]).toBe('ID  ACTIVE  CREATED               EMAIL             NOTES')
    expect(list.stdout).toContain('5   no      2014-05-13T16:53:20Z                    rack 2, "old" box\n')
    const json = cli(['list', '--json'])
    const parsed = JSON.parse(json.stdout) as Array<Record<string, unknown>>
    expect(parsed.map((c) => [c.id, c.active, c.createdIso])).toEqual([[1, true, '2013-01-30T12:53:07Z'], [5, false, '2014-05-13T16:53:20Z'], [9, true, '2017-07-14T02:40:00Z']])
    for (const out of [list.stdout, json.stdout]) {
      expect(out).not.toContain('foobar')
      expect(out).not.toContain(SECRET_A)
      expect(out).not.toContain('secret')
    }

    expect(cli(['disable', '1']).stdout).toBe('client 1 disabled\n')
    expect(cli(['disable', '1']).stdout).toBe('client 1 was already disabled\n')
    expect(cli(['enable', '5']).stdout).toBe('client 5 enabled\n')
    const rotated = cli(['rotate', '9'])
    expect(rotated.status).toBe(0)
    const m = /^9,([A-Za-z0-9+/]{27}=)\n$/.exec(rotated.stdout)
    expect(m).not.toBeNull()
    const after = await rows() as Array<{ id: number, active: boolean, secret: string }>
    expect(after.map((r) => [r.id, r.active, r.secret])).toEqual([[1, false, 'foobar'], [5, true, SECRET_A], [9, true, m![1]]])

    for (const cmd of ['disable', 'enable', 'rotate']) {
      const missing = cli([cmd, '77'])
      expect(missing.status, cmd).toBe(1)
      expect(missing.stderr).toBe('yubival: no client with id 77\n')
    }
    const badId = cli(['disable', '0'])
    expect(badId.status).toBe(2)
    expect(badId.stderr).toBe('yubival: ID must be a client id (a whole number from 1 to 2147483647), got "0"\n')
  })
})
