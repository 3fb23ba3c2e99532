// What every `yubival keys …` command shares: its options, stderr messages, a progress bar.
import type { Command } from 'commander'
import cliProgress from 'cli-progress'
import { addDataDirOption, addKsmOptions } from '../options.js'
import type { SetupIo } from '../ksm-setup.js'

/** Adds `keys <name>` with the data-dir and KSM options every keys command takes. */
export function keysCommand (group: Command, name: string): Command {
  return addKsmOptions(addDataDirOption(group.command(name)))
}

/** Messages for people go to stderr, so stdout carries only data (CSV, commands, JSON). */
export const stderrIo: SetupIo = {
  info: (m) => { process.stderr.write(`yubival: ${m}\n`) },
  warn: (m) => { process.stderr.write(`yubival: warning: ${m}\n`) }
}

export const plural = (n: number, one: string, many = `${one}s`): string => `${n} ${n === 1 ? one : many}`

/** Below this many steps a run is quick and a bar would only flicker. */
const PROGRESS_MIN = 2000

export interface Progress {
  tick: () => void
  stop: () => void
}

/** A progress bar on stderr, only when stderr is a terminal and the run is long. */
export function progress (label: string, total: number): Progress {
  if (process.stderr.isTTY !== true || total < PROGRESS_MIN) return { tick: () => {}, stop: () => {} }
  const bar = new cliProgress.SingleBar({
    stream: process.stderr,
    format: `${label} [{bar}] {percentage}% {value}/{total} {eta_formatted} left`,
    hideCursor: true,
    clearOnComplete: true
  }, cliProgress.Presets.shades_classic)
  bar.start(total, 0)
  return { tick: () => { bar.increment() }, stop: () => { bar.stop() } }
}
