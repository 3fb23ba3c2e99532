// `yubival keys init`: create a keyfile (one fresh AES-256 key for key handle 1, mode 0400) and the AEAD
// directory — at the configured paths, default or explicit. Never overwrites an existing keyfile.
import { mkdirSync } from 'node:fs'
import type { Command } from 'commander'
import { createDefaultKeyfile } from '../../ksm/index.js'
import { ksmSetupCliError } from '../ksm-setup.js'
import { configFromOptions, type CommonOptionValues } from '../options.js'
import { keysCommand, stderrIo } from './common.js'

export function registerInit (group: Command): void {
  keysCommand(group, 'init')
    .description('create a new keyfile (random AES-256 key for key handle 1, mode 0400) and the AEAD directory; refuses to overwrite')
    .action((opts: CommonOptionValues) => {
      const config = configFromOptions(opts)
      try {
        createDefaultKeyfile(config.keyfile)
      } catch (err) {
        throw ksmSetupCliError(err)
      }
      mkdirSync(config.aeadDir, { recursive: true, mode: 0o700 })
      stderrIo.info(`created keyfile ${config.keyfile} (mode 0400, key handle 1) and AEAD directory ${config.aeadDir}. ` +
        'Back the keyfile up now and keep it secret: without it every AEAD is useless.')
    })
}
