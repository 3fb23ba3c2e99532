import type { Command } from 'commander'

export function registerMigrateCommand (program: Command): void {
  void program
}
