import { afterEach, describe, expect, test } from 'vitest'
import { openDatabase, type Database } from '../../src/db/database.js'
import { currentMigrationVersion, expectedMigrationVersion, migrate, SchemaTooNewError } from '../../src/db/migrate.js'
import { createTestDatabase, testBackends, type TestDatabase } from '../helpers/database.js'

// yubikey-val's ykval-db.sql (reference/yubikey-val.md §5): column → [type, nullable, default].
const YKVAL_COLUMNS: Record<string, Record<string, [string, boolean, string | null]>> = {
  clients: {
    id: ['integer', false, null],
    active: ['boolean', true, 'true'],
    created: ['integer', false, null],
    secret: ['character varying(60)', false, "''"],
    email: ['character varying(255)', true, null],
    notes: ['character varying(100)', true, "''"],
    otp: ['character varying(100)', true, "''"]
  },
  yubikeys: {
    active: ['boolean', true, 'true'],
    created: ['integer', false, null],
    modified: ['integer', false, null],
    yk_publicname: ['character varying(16)', false, null],
    yk_counter: ['integer', false, null],
    yk_use: ['integer', false, null],
    yk_low: ['integer', false, null],
    yk_high: ['integer', false, null],
    nonce: ['character varying(40)', true, "''"],
    notes: ['character varying(100)', true, "''"]
  }
}

async function columns (db: Database, table: string): Promise<Record<string, [string, boolean, string | null]>> {
  const { rows } = await db.query<{ name: string, type: string, nullable: boolean, def: string | null }>(
    `SELECT a.attname AS name, format_type(a.atttypid, a.atttypmod) AS type, NOT a.attnotnull AS nullable,
            pg_get_expr(d.adbin, d.adrelid) AS def
     FROM pg_attribute a LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
     WHERE a.attrelid = $1::regclass AND a.attnum > 0 AND NOT a.attisdropped`, [table])
  // Defaults print as e.g. ''::character varying: compare the value only.
  return Object.fromEntries(rows.map((r) => [r.name, [r.type, r.nullable, r.def?.replace(/::[a-z ]+$/, '') ?? null]]))
}

async function primaryKey (db: Database, table: string): Promise<string[]> {
  const { rows } = await db.query<{ col: string }>(
    `SELECT a.attname AS col FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey)
     WHERE i.indrelid = $1::regclass AND i.indisprimary`, [table])
  return rows.map((r) => r.col)
}

describe.each(testBackends())('migrations on %s', (backend) => {
  let t: TestDatabase
  afterEach(async () => { await t.drop() })

  test('a fresh database gets the yubikey-val compatible schema, and migrating again changes nothing', async () => {
    t = await createTestDatabase({ backend, migrate: false })
    const expected = await expectedMigrationVersion()
    expect(expected).toBeGreaterThanOrEqual(1)
    expect(await currentMigrationVersion(t.db)).toBe(0)

    const first = await migrate(t.db)
    expect(first).toEqual({ previousVersion: 0, version: expected, applied: expect.arrayContaining(['001.do.initial-schema.sql']) })
    expect(await currentMigrationVersion(t.db)).toBe(expected)
    for (const table of ['clients', 'yubikeys']) expect(await columns(t.db, table)).toEqual(YKVAL_COLUMNS[table])
    expect(await primaryKey(t.db, 'clients')).toEqual(['id'])
    expect(await primaryKey(t.db, 'yubikeys')).toEqual(['yk_publicname'])

    await t.db.query("INSERT INTO clients (id, created, secret) VALUES (7, 1, 'kept')")
    const second = await migrate(t.db)
    expect(second).toEqual({ previousVersion: expected, version: expected, applied: [] })
    expect((await t.db.query('SELECT secret FROM clients')).rows).toEqual([{ secret: 'kept' }])
  })

  test('a schema newer than this code is refused with a clear error and left alone', async () => {
    t = await createTestDatabase({ backend })
    const expected = await expectedMigrationVersion()
    await t.db.query('INSERT INTO yubival_schema_version (version, name, md5) VALUES ($1, $2, $3)', [expected + 1, 'future', 'x'])
    const err = await migrate(t.db).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(SchemaTooNewError)
    expect((err as Error).message).toContain(`at version ${expected + 1}`)
    expect((err as Error).message).toContain(`up to ${expected}`)
    expect(await currentMigrationVersion(t.db)).toBe(expected + 1)
    expect((await t.db.query('SELECT count(*)::int AS n FROM clients')).rows).toEqual([{ n: 0 }])
  })

  test('an existing yubikey-val database is adopted with its data', async () => {
    t = await createTestDatabase({ backend, migrate: false })
    // As created by yubikey-val's ykval-db.sql, with a row in each table.
    await t.db.transaction(async (tx) => {
      await tx.exec(`
        CREATE TABLE clients (id INT NOT NULL UNIQUE, active BOOLEAN DEFAULT TRUE, created INT NOT NULL,
          secret VARCHAR(60) NOT NULL DEFAULT '', email VARCHAR(255), notes VARCHAR(100) DEFAULT '',
          otp VARCHAR(100) DEFAULT '', PRIMARY KEY (id));
        CREATE TABLE yubikeys (active BOOLEAN DEFAULT TRUE, created INT NOT NULL, modified INT NOT NULL,
          yk_publicname VARCHAR(16) UNIQUE NOT NULL, yk_counter INT NOT NULL, yk_use INT NOT NULL,
          yk_low INT NOT NULL, yk_high INT NOT NULL, nonce VARCHAR(40) DEFAULT '', notes VARCHAR(100) DEFAULT '',
          PRIMARY KEY (yk_publicname));
        INSERT INTO clients (id, created, secret) VALUES (1, 1359550387, 'old');
        INSERT INTO yubikeys VALUES (TRUE, 1, 2, 'cccccccccccb', 5, 3, 100, 20, 'abc', '')`)
    })
    await migrate(t.db)
    expect((await t.db.query('SELECT id, secret FROM clients')).rows).toEqual([{ id: 1, secret: 'old' }])
    expect((await t.db.query('SELECT yk_counter FROM yubikeys')).rows).toEqual([{ yk_counter: 5 }])
  })
})

describe.runIf(testBackends().includes('postgresql'))('concurrent migrations on PostgreSQL', () => {
  test('replicas migrating one fresh database at once all succeed and the schema is applied once', async () => {
    for (let round = 0; round < 3; round++) {
      const t = await createTestDatabase({ backend: 'postgresql', migrate: false })
      // Separate pools, as separate replicas would have.
      const replicas = await Promise.all(Array.from({ length: 4 }, async () => openDatabase(t.config({ dbPoolSize: 1 }))))
      try {
        const results = await Promise.all(replicas.map(async (db) => migrate(db)))
        const expected = await expectedMigrationVersion()
        expect(results.every((r) => r.version === expected)).toBe(true)
        // Exactly one replica did the work; the others waited for its lock, then found nothing to do.
        expect(results.filter((r) => r.applied.length > 0)).toHaveLength(1)
        const { rows } = await t.db.query<{ version: number }>('SELECT version::int AS version FROM yubival_schema_version ORDER BY version')
        expect(rows.map((r) => r.version)).toEqual(Array.from({ length: expected + 1 }, (_, i) => i))
      } finally {
        await Promise.all(replicas.map(async (db) => db.close()))
        await t.drop()
      }
    }
  })
})
