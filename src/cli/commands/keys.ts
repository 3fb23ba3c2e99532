// `yubival keys …`: a command group; each sub-command lives in src/cli/keys/<name>.ts and registers itself here.
import type { Command } from 'commander'
import { registerKeyState } from '../admin/keys-state.js'
import { registerRewrap } from '../admin/keys-rewrap.js'
import { registerCheck } from '../keys/check.js'
import { registerCopy } from '../keys/copy.js'
import { registerExport } from '../keys/export.js'
import { registerGenerate } from '../keys/generate.js'
import { registerImport } from '../keys/import.js'
import { registerInit } from '../keys/init.js'

export function registerKeysCommands (program: Command): void {
  const group = program.command('keys')
    .description('manage YubiKey credentials stored as AEAD files (replaces yhsm-generate-keys, yhsm-import-keys, yhsm-decrypt-aead)')
  registerInit(group)
  registerGenerate(group)
  registerImport(group)
  registerExport(group)
  registerCheck(group)
  registerCopy(group)
  registerKeyState(group)
  registerRewrap(group)
}
