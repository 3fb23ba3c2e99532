// What every `yubival clients …` command shares.
import type { Command } from 'commander'
import { MAX_CLIENT_ID } from '../../db/clients-repository.js'
import { CliError } from '../errors.js'
import { addDatabaseOptions, addDataDirOption } from '../options.js'

/** Adds a `clients <name>` sub-command with the database options every clients command takes. */
export function clientsCommand (group: Command, name: string): Command {
  return addDatabaseOptions(addDataDirOption(group.command(name)))
}

/** A client id argument: 1..2^31-1 (the INT column), else a usage error (exit 2). */
export function parseClientId (raw: string): number {
  const n = /^\d{1,10}$/.test(raw) ? Number(raw) : NaN
  if (!Number.isSafeInteger(n) || n < 1 || n > MAX_CLIENT_ID) {
    throw new CliError(`ID must be a client id (a whole number from 1 to ${MAX_CLIENT_ID}), got ${JSON.stringify(raw)}`, 2)
  }
  return n
}

/** Unix seconds as an ISO 8601 UTC time, for people and JSON. */
export function isoTime (unixSeconds: number): string | null {
  if (!Number.isFinite(unixSeconds) || unixSeconds < 0) return null
  return new Date(unixSeconds * 1000).toISOString().replace('.000Z', 'Z')
}

export const say = (message: string): void => { process.stderr.write(`yubival: ${message}\n`) }
