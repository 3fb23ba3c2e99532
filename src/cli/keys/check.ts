// `yubival keys check`: authenticate every AEAD file of the tree with the keyfile and list what is wrong.
import type { Command } from 'commander'
import { CliError } from '../errors.js'
import { openKeyTools } from '../ksm-setup.js'
import { configFromOptions, type CommonOptionValues } from '../options.js'
import { keysCommand, plural, stderrIo } from './common.js'
import { withAeadRepository, type RepositoryScanEntry } from './aead-repository.js'
import { folderKeyHandle, type AeadProblemKind, type OpenedAead } from './open-aead.js'
import { mapOrdered } from './pool.js'

export type ProblemKind = AeadProblemKind | 'orphan'
export type NoteKind = 'version_0' | 'key_handle_mismatch' | 'shadowed' | 'key_handle_not_in_keyfile'

export interface Finding<K extends string> {
  kind: K
  /** Relative to the AEAD directory ('' for the tree as a whole). */
  path: string
  detail: string
}

export interface CheckReport {
  aeadDir: string
  /** What was checked: `AEAD files under DIR` or `aead_table (…)`. */
  store: string
  /** `N AEAD files under DIR` / `N AEAD rows in aead_table (…)`. */
  checked: string
  keyfile: string
  keyHandles: string[]
  summary: { files: number, ok: number, problems: number } & Record<ProblemKind, number>
  problems: Array<Finding<ProblemKind>>
  notes: Array<Finding<NoteKind>>
}

interface CheckOptions extends CommonOptionValues {
  json?: boolean
}

const READ_AHEAD = 64
const PROBLEM_KINDS: ProblemKind[] = ['unreadable', 'unauthenticated', 'unknown_key_handle', 'orphan']

type Checked = { entry: RepositoryScanEntry, opened?: OpenedAead }

export async function checkTree (config: ReturnType<typeof configFromOptions>): Promise<CheckReport> {
  const { keyfile, keyHandles, aeadDir } = openKeyTools(config, stderrIo, { write: false })
  return withAeadRepository(config, async (repo) => {
  const report: CheckReport = {
    aeadDir,
    store: repo.description,
    checked: '',
    keyfile: config.keyfile,
    keyHandles: keyHandles.map((kh) => kh.typed),
    summary: { files: 0, ok: 0, problems: 0, unreadable: 0, unauthenticated: 0, unknown_key_handle: 0, orphan: 0 },
    problems: [],
    notes: []
  }
  for (const kh of keyHandles) {
    if (!keyfile.has(kh.value)) {
      report.notes.push({ kind: 'key_handle_not_in_keyfile', path: '', detail: `key handle ${kh.typed} is configured but not in the keyfile` })
    }
  }
  // public id → folders holding it; the KSM uses the first configured one only
  const holders = new Map<string, string[]>()
  const problem = (kind: ProblemKind, path: string, detail: string): void => {
    report.problems.push({ kind, path, detail })
    report.summary[kind]++
  }
  await mapOrdered<RepositoryScanEntry, Checked>(repo.scan(keyHandles), READ_AHEAD,
    async (entry) => entry.type === 'aead' ? { entry, opened: await entry.open(keyfile) } : { entry },
    ({ entry, opened }) => {
      if (entry.type === 'orphan') {
        problem('orphan', entry.where, entry.detail)
        return
      }
      report.summary.files++
      holders.set(entry.publicId, [...(holders.get(entry.publicId) ?? []), entry.folder])
      if (opened === undefined) return
      if (opened.ok) {
        report.summary.ok++
        opened.secret.fill(0)
      } else {
        problem(opened.kind, entry.where, opened.detail)
      }
      const e = opened.entry
      if (e?.version === 0) {
        report.notes.push({ kind: 'version_0', path: entry.where, detail: 'version 0 file (no header, pyhsm <= 1.0.3): key handle from the folder, nonce from the name' })
      } else if (e !== undefined && e.keyHandle !== folderKeyHandle(entry.folder)) {
        report.notes.push({ kind: 'key_handle_mismatch', path: entry.where, detail: `header says key handle ${e.keyHandle}, folder is ${entry.folder}; the header's is used` })
      }
    })
  const order = report.keyHandles
  for (const [publicId, folders] of holders) {
    if (folders.length < 2) continue
    const sorted = [...folders].sort((a, b) => order.indexOf(a) - order.indexOf(b))
    report.notes.push({ kind: 'shadowed', path: publicId, detail: `public id in folders ${sorted.join(', ')}: the KSM reads only the copy in ${sorted[0]} (first in key handle order)` })
  }
  report.summary.problems = report.problems.length
  report.checked = repo.counted(report.summary.files)
  return report
  })
}

function printText (r: CheckReport): void {
  const lines = r.problems.map((p) => `${p.kind}: ${p.path}: ${p.detail}`)
  lines.push(...r.notes.map((n) => `note: ${n.kind}: ${n.path === '' ? '' : `${n.path}: `}${n.detail}`))
  const counts = PROBLEM_KINDS.map((k) => `${r.summary[k]} ${k.replace(/_/g, ' ')}`).join(', ')
  lines.push(`checked ${r.checked} (key handles ${r.keyHandles.join(', ')}): ` +
    `${r.summary.ok} ok; problems: ${counts}`)
  process.stdout.write(lines.join('\n') + '\n')
}

export function registerCheck (group: Command): void {
  keysCommand(group, 'check')
    .description('authenticate every AEAD file with the keyfile and list unreadable, unauthenticated (wrong key or tampered), ' +
      'unknown-key-handle and orphan files; exit 1 if there is any problem')
    .option('--json', 'print the report as JSON')
    .action(async (opts: CheckOptions) => {
      const report = await checkTree(configFromOptions(opts))
      if (opts.json === true) process.stdout.write(JSON.stringify(report, null, 2) + '\n')
      else printText(report)
      if (report.problems.length > 0) throw new CliError(`${plural(report.problems.length, 'problem')} found`)
    })
}
