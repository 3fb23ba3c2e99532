import type { Command } from 'commander'
import type { Config } from '../../config.js'
import { openDatabase, type Database } from '../../db/database.js'
import { ClientInputError } from '../../db/clients-repository.js'
import { DatabaseInUseError } from '../../db/lock-file.js'
import { migrate, SchemaTooNewError } from '../../db/migrate.js'
import { CliError } from '../errors.js'
import { addDatabaseOptions, addDataDirOption, configFromOptions, type CommonOptionValues } from '../options.js'

/** Which database a config selects, for messages; never includes a password. */
export function describeDatabase (config: Config): string {
  if (config.databaseUrl === null) return `embedded database ${config.pgliteDir}`
  try {
    const u = new URL(config.databaseUrl)
    return `PostgreSQL ${u.hostname}${u.port === '' ? '' : `:${u.port}`}${u.pathname}`
  } catch {
    return 'PostgreSQL (DATABASE_URL)'
  }
}

function errorText (err: unknown): string {
  // pg reports a refused connection to a name with several addresses as an AggregateError with no message.
  if (err instanceof AggregateError && err.message === '') return err.errors.map(errorText).join('; ')
  if (err instanceof Error) return err.message !== '' ? err.message : ((err as NodeJS.ErrnoException).code ?? err.name)
  return String(err)
}

/**
 * Opens the configured database, migrates it (unless `migrate: false`), runs fn and closes it. Every
 * failure becomes a one-line CliError that says which database.
 */
export async function withCliDatabase<T> (
  config: Config, fn: (db: Database) => Promise<T>, opts: { migrate?: boolean } = {}
): Promise<T> {
  let db: Database
  try {
    db = await openDatabase(config)
  } catch (err) {
    if (err instanceof DatabaseInUseError) throw new CliError(err.message)
    throw new CliError(`cannot open the ${describeDatabase(config)}: ${errorText(err)}`)
  }
  try {
    if (opts.migrate !== false) await migrate(db)
    return await fn(db)
  } catch (err) {
    if (err instanceof CliError) throw err
    if (err instanceof ClientInputError) throw new CliError(err.message, 2)
    if (err instanceof SchemaTooNewError) throw new CliError(`${describeDatabase(config)}: ${err.message}`)
    throw new CliError(`${describeDatabase(config)}: ${errorText(err)}`)
  } finally {
    await db.close()
  }
}

export function registerMigrateCommand (program: Command): void {
  const cmd = program.command('migrate')
    .description('apply pending database migrations (serve also does this at start) and print the schema version')
  addDatabaseOptions(addDataDirOption(cmd))
  cmd.action(async (opts: CommonOptionValues) => {
    const config = configFromOptions(opts)
    const result = await withCliDatabase(config, migrate, { migrate: false })
    const what = result.applied.length === 0
      ? 'already up to date'
      : `applied ${result.applied.join(', ')}`
    process.stdout.write(`${describeDatabase(config)}: schema version ${result.version} (${what})\n`)
  })
}
