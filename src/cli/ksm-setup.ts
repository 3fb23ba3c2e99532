// KSM start-up for the CLI (serve and the keys tools): keyfile creation, keyfile/AEAD tree opening,
// and every setup failure as a one-line CliError that names the file and the setting.
import { mkdirSync, statSync } from 'node:fs'
import path from 'node:path'
import type { Config } from '../config.js'
import type { Queryable } from '../db/database.js'
import { createAeadTableStore } from '../db/aead-table-store.js'
import { createRemoteKsm } from '../ksm/remote-ksm.js'
import {
  createDefaultKeyfile, createKsm, KeyfileError, KeyHandleError, KsmSetupError, loadKeyfile, openFileKsm, parseKeyHandles,
  type FileAeadStore, type Keyfile, type KeyHandle, type Ksm
} from '../ksm/index.js'
import { CliError } from './errors.js'

export interface SetupIo {
  info: (message: string) => void
  warn: (message: string) => void
}

/** 'file', 'dir', 'other', 'missing', or the error code stat gave for the path. */
function statCode (file: string): string {
  try {
    const st = statSync(file)
    return st.isFile() ? 'file' : st.isDirectory() ? 'dir' : 'other'
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? String(err)
    return code === 'ENOENT' ? 'missing' : code
  }
}

function missingKeyfile (config: Config): CliError {
  if (!config.keyfileIsDefault) {
    return new CliError(`keyfile ${config.keyfile} does not exist; it is set by YUBIVAL_KEYFILE or --keyfile ` +
      '(fix the path, or unset it to use <data-dir>/keys.json)')
  }
  return new CliError(`keyfile ${config.keyfile} does not exist (the default, <data-dir>/keys.json); ` +
    'set YUBIVAL_KEYFILE or --keyfile, or run `yubival keys generate` / `yubival keys import` to create one')
}

/** KSM library setup errors → CliError; anything else is rethrown unchanged. */
export function ksmSetupCliError (err: unknown): unknown {
  if (err instanceof CliError) return err
  if (err instanceof KeyfileError || err instanceof KsmSetupError) return new CliError(err.message)
  if (err instanceof KeyHandleError) return new CliError(`key handles (YUBIVAL_KEY_HANDLES / --key-handle): ${err.message}`, 2)
  return err
}

/**
 * Creates the default keyfile (fresh AES-256 key for key handle 1, mode 0400) when it is the default
 * one and missing. A missing keyfile that was configured explicitly is an error: making a new key there
 * would hide a typo and silently orphan every AEAD made with the real one.
 */
export function prepareKeyfile (config: Config, io: SetupIo): void {
  const state = statCode(config.keyfile)
  if (state !== 'missing') return
  if (!config.keyfileIsDefault) throw missingKeyfile(config)
  try {
    createDefaultKeyfile(config.keyfile)
  } catch (err) {
    throw ksmSetupCliError(err)
  }
  io.info(`created keyfile ${config.keyfile} (mode 0400) with a new random AES-256 key for key handle 1. ` +
    'Back it up now and keep it secret: without it every AEAD is useless.')
}

function isDefaultAeadDir (config: Config): boolean {
  return path.resolve(config.aeadDir) === path.join(config.dataDir, 'aeads')
}

/** Makes the default AEAD directory (0700) if missing; an explicitly configured one must already exist. */
function ensureAeadDir (config: Config, io: SetupIo, opts: { create: boolean }): void {
  const state = statCode(config.aeadDir)
  if (state === 'dir') return
  if (state === 'missing' && opts.create && isDefaultAeadDir(config)) {
    mkdirSync(config.aeadDir, { recursive: true, mode: 0o700 })
    io.info(`created AEAD directory ${config.aeadDir}`)
    return
  }
  const why = state === 'missing' ? 'does not exist' : state === 'file' || state === 'other' ? 'is not a directory' : `cannot be used: ${state}`
  const hint = isDefaultAeadDir(config) ? '' : ' (set by YUBIVAL_AEAD_DIR or --aead-dir)'
  throw new CliError(`AEAD directory ${config.aeadDir} ${why}${hint}`)
}

/** Loads the keyfile for `config`, with the CLI's messages for a missing one. */
function loadConfiguredKeyfile (config: Config, io: SetupIo): Keyfile {
  if (statCode(config.keyfile) === 'missing') throw missingKeyfile(config)
  try {
    return loadKeyfile(config.keyfile, { allowInsecure: config.allowInsecureKeyfile, warn: io.warn })
  } catch (err) {
    throw ksmSetupCliError(err)
  }
}

/**
 * The running KSM for `yubival serve`: keyfile (created first if it is the default and missing, see
 * prepareKeyfile) + AEAD tree (the default one is created if missing), checked once.
 */
export function openKsmFromConfig (config: Config, io: SetupIo): { ksm: Ksm, keyfile: Keyfile, store: FileAeadStore } {
  prepareKeyfile(config, io)
  ensureAeadDir(config, io, { create: true })
  try {
    return openFileKsm({
      keyfile: config.keyfile,
      allowInsecureKeyfile: config.allowInsecureKeyfile,
      aeadDir: config.aeadDir,
      keyHandles: config.keyHandles,
      aeadCacheSize: config.aeadCacheSize,
      warn: io.warn
    })
  } catch (err) {
    throw ksmSetupCliError(err)
  }
}

/**
 * The KSM of a service, made once the database is open (the database AEAD store needs it), and how to
 * forget its cached AEADs (SIGHUP: replaced or removed AEADs are read again).
 */
export type KsmFactory = ((db: Queryable) => Ksm) & { clearCache: () => void }

const withCache = (make: (db: Queryable) => Ksm, clearCache: () => void): KsmFactory => Object.assign(make, { clearCache })

/**
 * The KSM `yubival serve` runs, chosen by configuration: remote KSMs (YUBIVAL_KSM_URLS), else the local
 * keyfile with the file tree (default) or the database's aead_table (YUBIVAL_AEAD_STORE=database).
 * Setup failures are CliErrors.
 */
export function ksmFactoryFromConfig (config: Config, io: SetupIo): KsmFactory {
  if (config.ksmUrls.length > 0) {
    // the remote KSMs hold the keys: no keyfile, no AEADs here
    const ksm = createRemoteKsm({ urls: config.ksmUrls, timeoutMs: config.ksmTimeoutMs })
    io.info(`using ${config.ksmUrls.length} remote KSM${config.ksmUrls.length === 1 ? '' : 's'} (YUBIVAL_KSM_URLS); no keyfile or AEADs are read`)
    return withCache(() => ksm, () => {})
  }
  if (config.aeadStore === 'files') {
    const { ksm, store } = openKsmFromConfig(config, io)
    return withCache(() => ksm, () => store.invalidate())
  }
  prepareKeyfile(config, io)
  const keyfile = loadConfiguredKeyfile(config, io)
  let keyHandles: KeyHandle[]
  try {
    keyHandles = parseKeyHandles(config.keyHandles)
  } catch (err) {
    throw ksmSetupCliError(err)
  }
  for (const kh of keyHandles) {
    if (!keyfile.has(kh.value)) io.warn(`key handle ${JSON.stringify(kh.typed)} (${kh.value}) is configured but not in keyfile ${config.keyfile}`)
  }
  const stores: Array<ReturnType<typeof createAeadTableStore>> = []
  return withCache((db) => {
    const store = createAeadTableStore({ db, keyHandles: config.keyHandles, cacheSize: config.aeadCacheSize })
    stores.push(store)
    return createKsm({ keyfile, store })
  }, () => { for (const s of stores) s.invalidate() })
}

export interface KeyToolSetup {
  keyfile: Keyfile
  keyHandles: KeyHandle[]
  aeadDir: string
}

/**
 * What the `keys` tools need. Writers (`write: true`) may create the default keyfile and AEAD directory
 * and need every configured key handle in the keyfile; readers create nothing.
 */
export function openKeyTools (config: Config, io: SetupIo, opts: { write: boolean }): KeyToolSetup {
  let keyHandles: KeyHandle[]
  try {
    keyHandles = parseKeyHandles(config.keyHandles)
  } catch (err) {
    throw ksmSetupCliError(err)
  }
  if (opts.write) prepareKeyfile(config, io)
  const keyfile = loadConfiguredKeyfile(config, io)
  if (config.aeadStore === 'files') ensureAeadDir(config, io, { create: opts.write })
  if (opts.write) {
    const absent = keyHandles.filter((kh) => !keyfile.has(kh.value))
    if (absent.length > 0) {
      const list = absent.map((kh) => kh.typed === String(kh.value) ? kh.typed : `${kh.typed} (${kh.value})`).join(', ')
      throw new CliError(`keyfile ${config.keyfile} has no key for key handle ${list}; cannot write AEADs for it ` +
        '(check --key-handle / YUBIVAL_KEY_HANDLES)')
    }
  }
  return { keyfile, keyHandles, aeadDir: config.aeadDir }
}
