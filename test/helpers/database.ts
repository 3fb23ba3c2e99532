// A fresh, private database per test file (or per test):
//   - TEST_DATABASE_URL set → a new database `yubival_test_<random>` on that PostgreSQL server, dropped
//     WITH (FORCE) by drop();
//   - otherwise → embedded PGlite in a temporary directory, deleted by drop().
//
//   const t = await createTestDatabase()            // migrated, open: use t.db
//   spawn(BIN, ['clients', 'gen', ...t.cliArgs])    // PGlite: call `await t.close()` first (one process at a time)
//   loadConfig({}, { ...t.overrides, port: 0 })     // point in-process code at it
//   await t.drop()                                  // in afterAll/afterEach
//
// describe.each(testBackends()) runs a suite on PGlite always and on PostgreSQL when it is available.
import { cpSync, existsSync, mkdtempSync, readFileSync, renameSync, rmSync } from 'node:fs'
import { randomBytes } from 'node:crypto'
import os from 'node:os'
import path from 'node:path'
import pg from 'pg'
import { loadConfig, type Config } from '../../src/config.js'
import { openDatabase, type Backend, type Database } from '../../src/db/database.js'
import { migrate } from '../../src/db/migrate.js'

export type { Backend }

export interface TestDatabaseOptions {
  /** Default: 'postgresql' when TEST_DATABASE_URL is set, else 'pglite'. */
  backend?: Backend
  /** Apply the migrations before returning (default true). */
  migrate?: boolean
  /** PostgreSQL server to create the database on (default TEST_DATABASE_URL); implies backend postgresql. */
  serverUrl?: string
}

export interface TestDatabase {
  backend: Backend
  /** URL of the private PostgreSQL database; null for PGlite. */
  url: string | null
  /** A temporary data directory (PGlite lives in <dataDir>/pglite); removed by drop(). */
  dataDir: string
  /** Config overrides selecting this database: `loadConfig(env, { ...t.overrides, ... })`. */
  overrides: { dataDir: string, databaseUrl: string | null }
  /** The same as yubival CLI flags: `--data-dir DIR [--database-url URL]`. */
  cliArgs: string[]
  /** The open connection; throws after close() until reopen(). */
  readonly db: Database
  /** Builds a Config for this database (clean environment, plus these overrides). */
  config(extra?: Parameters<typeof loadConfig>[1]): Config
  /** Closes t.db (needed before another process opens a PGlite database). Data is kept. */
  close(): Promise<void>
  /** Opens t.db again (after close()). */
  reopen(): Promise<Database>
  /** Closes t.db and destroys the database and the data directory. */
  drop(): Promise<void>
}

/** The backends every storage suite should run on: PGlite always, PostgreSQL when TEST_DATABASE_URL is set. */
export function testBackends (): Backend[] {
  return process.env.TEST_DATABASE_URL ? ['pglite', 'postgresql'] : ['pglite']
}

async function adminQuery (sql: string, serverUrl = process.env.TEST_DATABASE_URL): Promise<void> {
  const client = new pg.Client({ connectionString: serverUrl })
  await client.connect()
  try {
    await client.query(sql)
  } finally {
    await client.end()
  }
}

// Creating a PGlite database (initdb in WASM) takes seconds; copying a closed one takes a fraction of
// that. So one empty database per PGlite version is kept in the temp directory (shared by test
// processes, made once, put in place atomically) and copied for every test database.
let pgliteTemplate: Promise<string> | null = null
async function emptyPgliteDir (): Promise<string> {
  pgliteTemplate ??= (async () => {
    const pkg = JSON.parse(readFileSync(new URL('../../node_modules/@electric-sql/pglite/package.json', import.meta.url), 'utf8')) as { version: string }
    const target = path.join(os.tmpdir(), `yubival-test-pglite-${pkg.version}`)
    if (existsSync(path.join(target, 'PG_VERSION'))) return target
    const dataDir = mkdtempSync(path.join(os.tmpdir(), 'yubival-test-template-'))
    try {
      const config = loadConfig({}, { dataDir, databaseUrl: null })
      await (await openDatabase(config)).close()
      try {
        renameSync(config.pgliteDir, target)
      } catch (err) {
        // Another test process put its copy in place first: use that one.
        if (!['EEXIST', 'ENOTEMPTY'].includes((err as NodeJS.ErrnoException).code ?? '')) throw err
      }
    } finally {
      rmSync(dataDir, { recursive: true, force: true })
    }
    return target
  })()
  return pgliteTemplate
}

export async function createTestDatabase (opts: TestDatabaseOptions = {}): Promise<TestDatabase> {
  const serverUrl = opts.serverUrl ?? process.env.TEST_DATABASE_URL
  const backend = opts.backend ?? (opts.serverUrl !== undefined || process.env.TEST_DATABASE_URL ? 'postgresql' : 'pglite')
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'yubival-test-'))
  let url: string | null = null
  let dbName: string | null = null
  if (backend === 'postgresql') {
    const base = serverUrl
    if (!base) throw new Error('createTestDatabase: backend postgresql needs TEST_DATABASE_URL')
    dbName = `yubival_test_${randomBytes(6).toString('hex')}`
    await adminQuery(`CREATE DATABASE ${dbName}`, base)
    const u = new URL(base)
    u.pathname = `/${dbName}`
    url = u.toString()
  }
  const overrides = { dataDir, databaseUrl: url }
  const config = (extra: Parameters<typeof loadConfig>[1] = {}): Config => loadConfig({}, { ...overrides, ...extra })
  if (backend === 'pglite') cpSync(await emptyPgliteDir(), config().pgliteDir, { recursive: true })
  let current: Database | null = await openDatabase(config())
  if (opts.migrate !== false) await migrate(current)
  const close = async (): Promise<void> => {
    const d = current
    current = null
    await d?.close()
  }
  return {
    backend,
    url,
    dataDir,
    overrides,
    cliArgs: url === null ? ['--data-dir', dataDir] : ['--data-dir', dataDir, '--database-url', url],
    get db () {
      if (current === null) throw new Error('test database is closed; call reopen()')
      return current
    },
    config,
    close,
    async reopen () {
      await close()
      current = await openDatabase(config())
      return current
    },
    async drop () {
      await close()
      if (dbName !== null) await adminQuery(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`, serverUrl)
      rmSync(dataDir, { recursive: true, force: true })
    }
  }
}
