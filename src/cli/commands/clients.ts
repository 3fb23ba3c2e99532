import type { Command } from 'commander'

export function registerClientsCommands (program: Command): void {
  void program
}
