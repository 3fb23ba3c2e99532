// Shared set-up for the admin CLI tests: a copy of the pyhsm fixture keyfile and AEAD tree, a private
// database, and the environment that points the CLI at them.
import { chmodSync, cpSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { runCli, type CliResult } from '../helpers/cli.js'
import { createTestDatabase, type Backend, type TestDatabase } from '../helpers/database.js'
import { fixturePath, otpCases } from '../ksm/fixtures.js'

export interface AdminEnv {
  dir: string
  aeadDir: string
  keyfile: string
  db: TestDatabase
  env: Record<string, string>
  cli: (args: string[], input?: string) => CliResult
  cleanup: () => Promise<void>
}

/**
 * `folders`: which key handle folders of the fixture tree to copy (default all). The database is
 * migrated and closed (PGlite admits one process: reopen it with `db.reopen()`, close it again).
 */
export async function adminEnv (opts: { keyfile?: 'keys.json' | 'keys-multi.json', folders?: string[], keyHandles?: string, backend?: Backend } = {}): Promise<AdminEnv> {
  const dir = mkdtempSync(path.join(tmpdir(), 'yubival-admin-'))
  const keyfile = path.join(dir, 'keys.json')
  cpSync(fixturePath(opts.keyfile ?? 'keys.json'), keyfile)
  chmodSync(keyfile, 0o600)
  const aeadDir = path.join(dir, 'aeads')
  mkdirSync(aeadDir)
  for (const f of opts.folders ?? ['1', '2', '0x3']) cpSync(fixturePath(path.join('aeads', f)), path.join(aeadDir, f), { recursive: true })
  const db = await createTestDatabase(opts.backend === undefined ? {} : { backend: opts.backend })
  await db.close()
  const env = {
    YUBIVAL_KEYFILE: keyfile,
    YUBIVAL_AEAD_DIR: aeadDir,
    YUBIVAL_KEY_HANDLES: opts.keyHandles ?? '1',
    YUBIVAL_DATA_DIR: db.dataDir,
    YUBIVAL_ALLOW_INSECURE_KEYFILE: '',
    DATABASE_URL: db.url ?? ''
  }
  return {
    dir,
    aeadDir,
    keyfile,
    db,
    env,
    cli: (args, input) => runCli(args, { env, input }),
    cleanup: async () => {
      await db.drop()
      rmSync(dir, { recursive: true, force: true })
    }
  }
}

/** A recorded OTP of the fixture's S1 server run, by case name (e.g. credtivccccc-otp1). */
export function fixtureOtp (name: string): string {
  const c = otpCases().cases.find((x) => x.server === 'S1' && x.case === name)
  if (c?.otp === undefined) throw new Error(`no fixture OTP ${name}`)
  return c.otp
}

/** `<kh>/<pairs>/<id>` written out here, not taken from the library. */
export const layout = (kh: string, id: string): string => path.join(kh, ...id.match(/.{1,2}/g)!, id)
