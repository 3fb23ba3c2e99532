import { readFileSync } from 'node:fs'
import { Command, CommanderError } from 'commander'
import { ConfigError } from '../config.js'
import { CliError } from './errors.js'
import { registerKeysCommands } from './commands/keys.js'
import { registerClientsCommands } from './commands/clients.js'
import { registerMigrateCommand } from './commands/migrate.js'
import { registerOtpCommands } from './commands/otp.js'
import { registerDoctorCommand } from './commands/doctor.js'
import { registerServeCommand } from './commands/serve.js'
import { registerSyncCommands } from './commands/sync.js'

function version (): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }
  return pkg.version
}

export function buildProgram (): Command {
  const program = new Command('yubival')
    .description('Self-hosted Yubico OTP validation server (WSAPI 2.0) with a pyhsm-compatible KSM')
    .version(version())
    .showHelpAfterError()
    .exitOverride()
  registerServeCommand(program)
  registerMigrateCommand(program)
  registerKeysCommands(program)
  registerClientsCommands(program)
  registerOtpCommands(program)
  registerDoctorCommand(program)
  registerSyncCommands(program)
  return program
}

export async function main (argv: string[]): Promise<void> {
  const program = buildProgram()
  try {
    await program.parseAsync(argv)
  } catch (err) {
    if (err instanceof CommanderError) {
      // --help / --version exit 0; usage errors were already printed by commander.
      process.exitCode = err.exitCode
      return
    }
    if (err instanceof CliError) {
      process.stderr.write(`yubival: ${err.message}\n`)
      process.exitCode = err.exitCode
      return
    }
    if (err instanceof ConfigError) {
      process.stderr.write(`yubival: ${err.message}\n`)
      process.exitCode = 2
      return
    }
    throw err
  }
}
