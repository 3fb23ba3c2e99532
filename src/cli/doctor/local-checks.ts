// The doctor's checks of this host's setup: configuration, keyfile, AEAD tree, database, clients.
// Each check reports instead of throwing, so one broken part never hides the state of the others.
import { constants, promises as fsp } from 'node:fs'
import path from 'node:path'
import type { Config } from '../../config.js'
import { openDatabase, type Database } from '../../db/database.js'
import { DatabaseInUseError } from '../../db/lock-file.js'
import { currentMigrationVersion, expectedMigrationVersion } from '../../db/migrate.js'
import { loadKeyfile, parseKeyHandles, type Keyfile } from '../../ksm/index.js'
import { describeDatabase } from '../commands/migrate.js'
import { checkTree } from '../keys/check.js'
import { check, oneLine, type CheckResult } from './types.js'

const AES_BITS: Record<number, string> = { 16: 'AES-128', 24: 'AES-192', 32: 'AES-256' }

export async function checkKeyfile (config: Config): Promise<{ result: CheckResult, keyfile: Keyfile | null }> {
  const name = 'keyfile'
  let st
  try {
    st = await fsp.stat(config.keyfile)
  } catch (err) {
    return { result: check(name, 'fail', `${config.keyfile}: ${(err as NodeJS.ErrnoException).code ?? oneLine(err)}`), keyfile: null }
  }
  const mode = (st.mode & 0o777).toString(8).padStart(4, '0')
  let keyfile: Keyfile
  try {
    keyfile = loadKeyfile(config.keyfile, { allowInsecure: true })
  } catch (err) {
    return { result: check(name, 'fail', oneLine(err)), keyfile: null }
  }
  const keys = [...keyfile].map(([kh, key]) => `${kh} (${AES_BITS[key.length] ?? `${key.length} bytes`})`).join(', ')
  const configured = parseKeyHandles(config.keyHandles)
  const absent = configured.filter((kh) => !keyfile.has(kh.value)).map((kh) => kh.typed)
  if ((st.mode & 0o077) !== 0) {
    const why = `${config.keyfile} has mode ${mode}: group/others may read the keys (chmod 600)`
    return { result: check(name, config.allowInsecureKeyfile ? 'warn' : 'fail', config.allowInsecureKeyfile ? `${why}; allowed by YUBIVAL_ALLOW_INSECURE_KEYFILE` : `${why}; serve refuses it`), keyfile }
  }
  if (absent.length === configured.length) {
    return { result: check(name, 'fail', `${config.keyfile} holds key handles ${keys}, none of the configured ones (${config.keyHandles.join(', ')})`), keyfile }
  }
  if (absent.length > 0) {
    return { result: check(name, 'warn', `${config.keyfile}: configured key handle ${absent.join(', ')} is not in the keyfile (it holds ${keys})`), keyfile }
  }
  return { result: check(name, 'ok', `${config.keyfile} (mode ${mode}): key handles ${keys}`), keyfile }
}

export async function checkAeadDir (config: Config): Promise<CheckResult> {
  const name = 'AEAD directory'
  if (config.aeadStore === 'database') return check(name, 'ok', 'not used: the AEADs are in the database (YUBIVAL_AEAD_STORE=database)')
  try {
    const st = await fsp.stat(config.aeadDir)
    if (!st.isDirectory()) return check(name, 'fail', `${config.aeadDir} is not a directory`)
    await fsp.access(config.aeadDir, constants.R_OK | constants.X_OK)
  } catch (err) {
    return check(name, 'fail', `${config.aeadDir}: ${(err as NodeJS.ErrnoException).code ?? oneLine(err)}`)
  }
  const missing: string[] = []
  for (const kh of config.keyHandles) {
    try {
      await fsp.access(path.join(config.aeadDir, kh), constants.R_OK | constants.X_OK)
    } catch (err) {
      missing.push(`${kh} (${(err as NodeJS.ErrnoException).code ?? 'unusable'})`)
    }
  }
  if (missing.length > 0) return check(name, 'warn', `${config.aeadDir}: no readable folder for key handle ${missing.join(', ')}`)
  return check(name, 'ok', `${config.aeadDir} is readable, with a folder for key handle ${config.keyHandles.join(', ')}`)
}

export async function checkAeads (config: Config): Promise<CheckResult> {
  const name = 'keys check'
  try {
    const r = await checkTree(config)
    const s = r.summary
    if (r.problems.length === 0) return check(name, 'ok', `${s.files} AEAD file${s.files === 1 ? '' : 's'}, all open with the keyfile`)
    const kinds = (['unreadable', 'unauthenticated', 'unknown_key_handle', 'orphan'] as const)
      .filter((k) => s[k] > 0).map((k) => `${s[k]} ${k.replace(/_/g, ' ')}`).join(', ')
    return check(name, 'fail', `${r.problems.length} problem${r.problems.length === 1 ? '' : 's'} in ${s.files} AEAD files (${kinds}), ` +
      `first: ${r.problems[0]!.path}: ${r.problems[0]!.detail}; run \`yubival keys check\``)
  } catch (err) {
    return check(name, 'fail', oneLine(err))
  }
}

export interface DatabaseCheck {
  results: CheckResult[]
  /** Open and at the expected schema version (the caller closes it), else null. */
  db: Database | null
}

export async function checkDatabase (config: Config): Promise<DatabaseCheck> {
  const name = 'database'
  const where = describeDatabase(config)
  let db: Database
  try {
    db = await openDatabase(config, { onConnectionError: () => {} })
  } catch (err) {
    if (err instanceof DatabaseInUseError) {
      return {
        results: [check(name, 'warn', `${where} is in use by process ${err.pid} (a running \`yubival serve\`?): ` +
          'not checked; PGlite admits one process, stop it or use PostgreSQL (DATABASE_URL) to check')],
        db: null
      }
    }
    return { results: [check(name, 'fail', `cannot open the ${where}: ${oneLine(err)}`)], db: null }
  }
  try {
    const [current, expected] = [await currentMigrationVersion(db), await expectedMigrationVersion()]
    if (current !== expected) {
      const fix = current < expected ? 'run `yubival migrate` (serve also migrates when it starts)' : 'a newer yubival migrated it; run that version'
      await db.close()
      return { results: [check(name, 'fail', `${where}: schema version ${current}, this yubival needs ${expected}: ${fix}`)], db: null }
    }
    return { results: [check(name, 'ok', `${where}: reachable, schema version ${current}`)], db }
  } catch (err) {
    await db.close()
    return { results: [check(name, 'fail', `${where}: ${oneLine(err)}`)], db: null }
  }
}

export async function checkClients (db: Database): Promise<CheckResult> {
  try {
    const { rows } = await db.query<{ active: number, total: number }>(
      'SELECT count(*) FILTER (WHERE active)::int AS active, count(*)::int AS total FROM clients')
    const { active, total } = rows[0]!
    if (active === 0) return check('clients', 'fail', `no active client (${total} in total): nobody can verify OTPs; create one with \`yubival clients gen\``)
    return check('clients', 'ok', `${active} active client${active === 1 ? '' : 's'}${total > active ? ` (${total - active} disabled)` : ''}`)
  } catch (err) {
    return check('clients', 'fail', oneLine(err))
  }
}
