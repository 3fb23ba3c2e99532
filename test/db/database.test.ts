import { spawnSync } from 'node:child_process'
import { existsSync, writeFileSync } from 'node:fs'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { openDatabase, withAdvisoryLock } from '../../src/db/database.js'
import { DatabaseInUseError } from '../../src/db/lock-file.js'
import { createTestDatabase, testBackends, type TestDatabase } from '../helpers/database.js'

describe.each(testBackends())('Database on %s', (backend) => {
  let t: TestDatabase
  beforeAll(async () => { t = await createTestDatabase({ backend }) })
  afterAll(async () => { await t.drop() })

  test('a transaction commits when its function resolves and rolls back when it throws', async () => {
    await t.db.transaction(async (tx) => { await tx.query("INSERT INTO clients (id, created) VALUES (1, 1)") })
    const err = await t.db.transaction(async (tx) => {
      await tx.query("INSERT INTO clients (id, created) VALUES (2, 1)")
      throw new Error('changed my mind')
    }).catch((e: unknown) => e)
    expect((err as Error).message).toBe('changed my mind')
    expect((await t.db.query('SELECT id FROM clients ORDER BY id')).rows).toEqual([{ id: 1 }])
    // A failed statement aborts the transaction; the database stays usable afterwards.
    await expect(t.db.transaction(async (tx) => { await tx.query('INSERT INTO clients (id, created) VALUES (1, 1)') }))
      .rejects.toThrow(/duplicate key/)
    expect((await t.db.query('SELECT count(*)::int AS n FROM clients')).rows).toEqual([{ n: 1 }])
  })

  test('withAdvisoryLock runs its function inside the transaction', async () => {
    const out = await withAdvisoryLock(t.db, 'createClients', async (tx) =>
      (await tx.query<{ n: number }>("SELECT count(*)::int AS n FROM pg_locks WHERE locktype = 'advisory'")).rows[0]?.n)
    expect(out).toBeGreaterThanOrEqual(1)
  })

  test('parameters are never SQL text', async () => {
    const evil = "x'); DROP TABLE clients; --"
    expect((await t.db.query('SELECT $1::text AS v', [evil])).rows).toEqual([{ v: evil }])
    expect((await t.db.query('SELECT count(*)::int AS n FROM clients')).rows).toHaveLength(1)
  })
})

describe('embedded PGlite is one process at a time', () => {
  test('a second opener is refused with a clear error; after close it can open', async () => {
    const t = await createTestDatabase({ backend: 'pglite' })
    try {
      const err = await openDatabase(t.config()).catch((e: unknown) => e)
      expect(err).toBeInstanceOf(DatabaseInUseError)
      expect((err as Error).message).toMatch(new RegExp(`embedded database .*pglite is in use by process ${process.pid}; .*DATABASE_URL`))
      await t.reopen()
      expect((await t.db.query('SELECT 1 AS one')).rows).toEqual([{ one: 1 }])
    } finally {
      await t.drop()
    }
  })

  test('a lock left by a process that died is taken over, and removed on close', async () => {
    const t = await createTestDatabase({ backend: 'pglite' })
    try {
      await t.close()
      const lockFile = `${t.config().pgliteDir}.lock`
      const dead = spawnSync(process.execPath, ['-e', '']).pid
      writeFileSync(lockFile, `${dead}\n`)
      await t.reopen()
      expect((await t.db.query('SELECT count(*)::int AS n FROM clients')).rows).toEqual([{ n: 0 }])
      await t.close()
      expect(existsSync(lockFile)).toBe(false)
    } finally {
      await t.drop()
    }
  })
})

describe.runIf(testBackends().includes('postgresql'))('PostgreSQL pool', () => {
  let t: TestDatabase
  beforeAll(async () => { t = await createTestDatabase({ backend: 'postgresql' }) })
  afterAll(async () => { await t.drop() })

  test('connections killed by the server are reported, replaced, and do not crash the process', async () => {
    const errors: Error[] = []
    const db = await openDatabase(t.config({ dbPoolSize: 3 }), { onConnectionError: (e) => errors.push(e) })
    try {
      await Promise.all([1, 2, 3].map(async () => db.transaction(async (tx) => { await tx.query('SELECT 1') })))
      await t.db.query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid() AND application_name = 'yubival'")
      // The idle connections learn of it asynchronously; the pool reports each one.
      while (errors.length < 3) await new Promise((resolve) => setTimeout(resolve, 10))
      expect(errors[0]?.message).toMatch(/terminating connection/)
      expect((await db.query('SELECT 2 AS two')).rows).toEqual([{ two: 2 }])
    } finally {
      await db.close()
    }
  })

  test('the statement timeout bounds pool queries; a transaction can ask for longer', async () => {
    const db = await openDatabase(t.config({ dbStatementTimeoutMs: 100 }))
    try {
      await expect(db.query('SELECT pg_sleep(3)')).rejects.toMatchObject({ code: '57014' })
      await db.transaction(async (tx) => { await tx.query('SELECT pg_sleep(0.3)') }, { timeoutMs: 0 })
      // The override was local to that transaction.
      await expect(db.query('SELECT pg_sleep(3)')).rejects.toMatchObject({ code: '57014' })
    } finally {
      await db.close()
    }
  })

  test('an unreachable server gives an error, not a hang or a crash', async () => {
    const db = await openDatabase(t.config({ databaseUrl: 'postgres://postgres@127.0.0.1:1/nothing' }))
    try {
      await expect(db.query('SELECT 1')).rejects.toThrow(/ECONNREFUSED/)
    } finally {
      await db.close()
    }
  })
})
