// Options shared by several commands, and how they become a validated Config.
import { Command, Option } from 'commander'
import { AEAD_STORES, loadConfig, type AeadStoreKind, type Config, type ConfigOverrides } from '../config.js'

function collect (value: string, previous: string[] | undefined): string[] {
  // --key-handle may be repeated, and each value may be comma-separated (yhsm-generate-keys habit).
  const parts = value.split(',').map((s) => s.trim()).filter((s) => s !== '')
  return [...(previous ?? []), ...parts]
}

export function addDataDirOption (cmd: Command): Command {
  return cmd.addOption(new Option('--data-dir <dir>', 'data directory for defaults (env YUBIVAL_DATA_DIR, default ./data)'))
}

/** --keyfile, --aead-dir, --key-handle (repeatable), --allow-insecure-keyfile */
export function addKsmOptions (cmd: Command): Command {
  return cmd
    .addOption(new Option('--keyfile <path>', 'JSON keyfile {"<key handle>": "<hex AES key>"} (env YUBIVAL_KEYFILE, default <data-dir>/keys.json)'))
    .addOption(new Option('--aead-dir <dir>', 'AEAD base directory (env YUBIVAL_AEAD_DIR, default <data-dir>/aeads)'))
    .addOption(new Option('--key-handle <handle>', 'key handle, repeatable or comma-separated, tried in order (env YUBIVAL_KEY_HANDLES, default 1)').argParser(collect))
    .addOption(new Option('--allow-insecure-keyfile', 'start even if the keyfile is readable by group or others (warns)'))
    .addOption(new Option('--aead-store <store>', 'where AEADs live: files (the AEAD directory) or database (aead_table) (env YUBIVAL_AEAD_STORE, default files)')
      .choices(AEAD_STORES))
}

/** --database-url */
export function addDatabaseOptions (cmd: Command): Command {
  return cmd.addOption(new Option('--database-url <url>', 'PostgreSQL URL (env DATABASE_URL; default: embedded PGlite in <data-dir>/pglite)'))
}

export interface CommonOptionValues {
  dataDir?: string
  keyfile?: string
  aeadDir?: string
  keyHandle?: string[]
  allowInsecureKeyfile?: boolean
  databaseUrl?: string
  aeadStore?: AeadStoreKind
}

/** Turns parsed shared options into a Config (flags win over environment). */
export function configFromOptions (opts: CommonOptionValues, extra: ConfigOverrides = {}, env: NodeJS.ProcessEnv = process.env): Config {
  const overrides: ConfigOverrides = { ...extra }
  if (opts.dataDir !== undefined) overrides.dataDir = opts.dataDir
  if (opts.keyfile !== undefined) overrides.keyfile = opts.keyfile
  if (opts.aeadDir !== undefined) overrides.aeadDir = opts.aeadDir
  if (opts.keyHandle !== undefined && opts.keyHandle.length > 0) overrides.keyHandles = opts.keyHandle
  if (opts.allowInsecureKeyfile === true) overrides.allowInsecureKeyfile = true
  if (opts.databaseUrl !== undefined) overrides.databaseUrl = opts.databaseUrl
  if (opts.aeadStore !== undefined) overrides.aeadStore = opts.aeadStore
  return loadConfig(env, overrides)
}
