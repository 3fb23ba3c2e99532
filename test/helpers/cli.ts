// Runs the real CLI (bin/yubival, built by `npm run build`) as a child process.
import { spawnSync } from 'node:child_process'
import { BIN } from './server-process.js'

export interface CliResult {
  status: number | null
  stdout: string
  stderr: string
}

export function runCli (args: string[], opts: { env?: Record<string, string>, input?: string } = {}): CliResult {
  const r = spawnSync(process.execPath, [BIN, ...args], {
    env: { ...process.env, ...opts.env },
    input: opts.input,
    encoding: 'utf8',
    timeout: 120_000
  })
  return { status: r.status, stdout: r.stdout, stderr: r.stderr }
}

/** Like runCli but throws with the output when the command does not exit 0. */
export function cliOk (args: string[], opts: { env?: Record<string, string>, input?: string } = {}): string {
  const r = runCli(args, opts)
  if (r.status !== 0) throw new Error(`yubival ${args.join(' ')} exited ${r.status}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`)
  return r.stdout
}
