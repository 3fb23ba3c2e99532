// Needs `npm run build` (spawns bin/yubival).
import { afterEach, describe, expect, test } from 'vitest'
import { expectedMigrationVersion } from '../../src/db/migrate.js'
import { runCli } from '../helpers/cli.js'
import { createTestDatabase, testBackends, type TestDatabase } from '../helpers/database.js'

// A DATABASE_URL in the test environment must not redirect the PGlite runs.
const ENV = { DATABASE_URL: '' }

describe.each(testBackends())('yubival migrate on %s', (backend) => {
  let t: TestDatabase
  afterEach(async () => { await t.drop() })

  test('applies the migrations once, prints the version, and is idempotent', async () => {
    t = await createTestDatabase({ backend, migrate: false })
    await t.close() // PGlite: one process at a time
    const v = await expectedMigrationVersion()
    const first = runCli(['migrate', ...t.cliArgs], { env: ENV })
    expect(first.stderr).toBe('')
    expect(first.status).toBe(0)
    expect(first.stdout).toMatch(new RegExp(`^(embedded database .*pglite|PostgreSQL 127\\.0\\.0\\.1:5432/yubival_test_\\w+): schema version ${v} \\(applied 001\\.do\\.initial-schema\\.sql.*\\)\\n$`))
    const second = runCli(['migrate', ...t.cliArgs], { env: ENV })
    expect(second.status).toBe(0)
    expect(second.stdout).toMatch(new RegExp(`schema version ${v} \\(already up to date\\)\\n$`))
    await t.reopen()
    expect((await t.db.query('SELECT count(*)::int AS n FROM yubikeys')).rows).toEqual([{ n: 0 }])
  })

  test('a database migrated by a newer yubival is refused (exit 1, one clear line)', async () => {
    t = await createTestDatabase({ backend })
    await t.db.query("INSERT INTO yubival_schema_version (version, name, md5) VALUES (999, 'future', 'x')")
    await t.close()
    const r = runCli(['migrate', ...t.cliArgs], { env: ENV })
    expect(r.status).toBe(1)
    expect(r.stdout).toBe('')
    expect(r.stderr).toMatch(/^yubival: .*schema is at version 999, but this yubival only knows versions up to \d+: a newer yubival has migrated it; .*\n$/)
  })
})

test('yubival migrate on an unreachable PostgreSQL names it and exits 1 without a stack trace', () => {
  const r = runCli(['migrate', '--database-url', 'postgres://u:hunter2@127.0.0.1:1/db'])
  expect(r.status).toBe(1)
  expect(r.stderr).toBe('yubival: PostgreSQL 127.0.0.1:1/db: connect ECONNREFUSED 127.0.0.1:1\n')
  expect(r.stderr).not.toContain('hunter2')
})
