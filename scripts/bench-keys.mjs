#!/usr/bin/env node
// Key-tool benchmark: `yubival keys generate` of N keys, `keys import` of a `# ykksm 1` CSV of N keys
// into a fresh AEAD tree, and `keys check` over that tree; wall time, CPU and peak RSS of each command.
// Needs `npm run build`. Usage: node scripts/bench-keys.mjs [--keys 100000] [--out bench-results] [--keep]
import { execFileSync } from 'node:child_process'
import { mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { parseArgs } from 'node:util'
import { BIN } from './bench-server.mjs'
import { loadAverage, machineInfo } from './bench-proc.mjs'

const ROOT = path.resolve(import.meta.dirname, '..')
const { values: opt } = parseArgs({
  options: {
    keys: { type: 'string', default: '100000' },
    out: { type: 'string', default: path.join(ROOT, 'bench-results') },
    keep: { type: 'boolean', default: false }
  }
})
const count = Number(opt.keys)
if (!Number.isSafeInteger(count) || count < 1) throw new Error(`--keys: expected a whole number, got ${opt.keys}`)

/** Runs one CLI command under GNU time: wall s, user+sys CPU s, peak RSS MB. */
function timed (label, args, env, stdoutFile) {
  const report = path.join(work, `${label}.time`)
  const out = stdoutFile === undefined ? 'ignore' : openSync(stdoutFile, 'w', 0o600)
  execFileSync('/usr/bin/time', ['-o', report, '-f', '%e %U %S %M', process.execPath, BIN, ...args], {
    env: { PATH: process.env.PATH, HOME: process.env.HOME, ...env },
    stdio: ['ignore', out, 'pipe'],
    maxBuffer: 1 << 26
  })
  const [wall, user, sys, rssKb] = readFileSync(report, 'utf8').trim().split('\n').pop().split(' ').map(Number)
  const r = { command: `yubival ${args.join(' ')}`, wallSeconds: wall, cpuSeconds: Math.round((user + sys) * 100) / 100, peakRssMb: Math.round(rssKb / 1024) }
  process.stderr.write(`bench-keys: ${label}: ${wall} s wall, ${r.cpuSeconds} s CPU, ${r.peakRssMb} MB peak RSS\n`)
  return r
}

const work = mkdtempSync(path.join(tmpdir(), 'yubival-bench-keys-'))
try {
  const startedAt = new Date().toISOString()
  const loadBefore = loadAverage()
  const genEnv = { YUBIVAL_DATA_DIR: path.join(work, 'generated') }
  const csv = path.join(work, 'generated.csv')
  const generate = timed('generate', ['keys', 'generate', '--start-public-id', 'vvcccccccccb', '--count', String(count), '--print', 'csv'], genEnv, csv)

  // The same credentials as a YK-KSM provisioning file, imported into a fresh installation (new keyfile).
  const ykksm = path.join(work, 'import.csv')
  writeFileSync(ykksm, `# ykksm 1\n${readFileSync(csv, 'utf8')}`, { mode: 0o600 })
  const impEnv = { YUBIVAL_DATA_DIR: path.join(work, 'imported') }
  const imported = timed('import', ['keys', 'import', ykksm], impEnv)
  const check = timed('check', ['keys', 'check'], impEnv)

  const result = { startedAt, machine: machineInfo(), loadBefore, loadAfter: loadAverage(), keys: count, generate, import: imported, check }
  const md = [
    `### ${startedAt} — ${count} keys, ${result.machine.cpus} × ${result.machine.cpuModel}, Node ${result.machine.node}; ` +
      `load average before ${loadBefore.join(' / ')}, after ${result.loadAfter.join(' / ')}`,
    '',
    `Command: \`${['node scripts/bench-keys.mjs', ...process.argv.slice(2)].join(' ')}\``,
    '',
    '| step | command | wall s | CPU s | keys/s | peak RSS MB |',
    '|---|---|---|---|---|---|',
    ...[['generate', generate], ['import', imported], ['check', check]].map(([name, r]) =>
      `| ${name} | \`${r.command.replace(ykksm, 'import.csv')}\` | ${r.wallSeconds} | ${r.cpuSeconds} | ${Math.round(count / r.wallSeconds)} | ${r.peakRssMb} |`)
  ].join('\n')
  mkdirSync(opt.out, { recursive: true })
  const base = path.join(opt.out, `bench-keys-${startedAt.replace(/[:.]/g, '-')}`)
  writeFileSync(`${base}.json`, JSON.stringify(result, null, 2) + '\n')
  writeFileSync(`${base}.md`, md + '\n')
  process.stdout.write(md + '\n')
} finally {
  if (opt.keep) process.stderr.write(`bench-keys: kept ${work}\n`)
  else rmSync(work, { recursive: true, force: true })
}
