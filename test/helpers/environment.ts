// A complete throwaway installation for end-to-end tests: keyfile, AEAD tree with YubiKeys imported
// through our own `keys import`, a database (PostgreSQL when TEST_DATABASE_URL is set, else PGlite),
// and a client made by `clients gen`.
import { randomBytes } from 'node:crypto'
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { createTestDatabase, type TestDatabaseOptions } from './database.js'
import { cliOk } from './cli.js'
import type { SoftKey } from './yubiotp.js'

const MODHEX = 'cbdefghijklnrtuv'

/** A random 12-char public id that starts with 'v' (so it is never mistaken for Dvorak input). */
export function randomPublicId (): string {
  let id = 'v'
  for (const b of randomBytes(11)) id += MODHEX[b & 15]
  return id
}

export function randomSoftKey (): SoftKey {
  return { publicId: randomPublicId(), aesKeyHex: randomBytes(16).toString('hex'), privateUidHex: randomBytes(6).toString('hex') }
}

export interface TestInstallation {
  dir: string
  /** Environment for `yubival serve` and other CLI commands. */
  env: Record<string, string>
  keys: SoftKey[]
  client: { id: number, key: string }
  cleanup: () => Promise<void>
}

export async function createInstallation (opts: { keyCount?: number, database?: TestDatabaseOptions } = {}): Promise<TestInstallation> {
  const dir = mkdtempSync(path.join(tmpdir(), 'yubival-e2e-'))
  const keyfile = path.join(dir, 'keys.json')
  writeFileSync(keyfile, JSON.stringify({ 1: randomBytes(32).toString('hex') }))
  chmodSync(keyfile, 0o400)
  const keys = Array.from({ length: opts.keyCount ?? 1 }, randomSoftKey)
  const csv = ['# ykksm 1', ...keys.map((k, i) => `${i + 1},${k.publicId},${k.privateUidHex},${k.aesKeyHex},000000000000,,`)].join('\n') + '\n'
  const csvPath = path.join(dir, 'import.csv')
  writeFileSync(csvPath, csv, { mode: 0o600 })

  const db = await createTestDatabase(opts.database)
  const env: Record<string, string> = {
    YUBIVAL_DATA_DIR: path.join(dir, 'data'),
    YUBIVAL_KEYFILE: keyfile,
    YUBIVAL_AEAD_DIR: path.join(dir, 'aeads'),
    YUBIVAL_KEY_HANDLES: '1',
    ...(db.url !== null ? { DATABASE_URL: db.url } : {})
  }
  // The CLI and the server are other processes: PGlite admits one at a time, so let go of it here.
  await db.close()
  if (db.url === null) env.YUBIVAL_DATA_DIR = db.dataDir
  mkdirSync(env.YUBIVAL_AEAD_DIR as string, { mode: 0o700 })
  cliOk(['keys', 'import', csvPath], { env })
  const line = cliOk(['clients', 'gen'], { env }).trim()
  const m = /^(\d+),([A-Za-z0-9+/]{27}=)$/.exec(line)
  if (m === null) throw new Error(`unexpected clients gen output: ${line}`)
  return {
    dir,
    env,
    keys,
    client: { id: Number(m[1]), key: m[2] as string },
    cleanup: async () => {
      await db.drop()
      rmSync(dir, { recursive: true, force: true })
    }
  }
}
