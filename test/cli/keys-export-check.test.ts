// `yubival keys export` and `yubival keys check` over the pyhsm fixture trees (needs `npm run build`).
import { cpSync, readFileSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { afterEach, beforeEach, describe, expect, test } from 'vitest'
import { fixturePath } from '../ksm/fixtures.js'
import { keys, layoutPath, parseYubikeyCsv, tempDir, type TempDir } from './keys-env.js'

let t: TempDir
beforeEach(() => { t = tempDir() })
afterEach(() => { t.remove() })

/** The yubikey-csv lines of a yhsm-decrypt-aead transcript, without the running number. */
function transcriptLines (name: string): string[] {
  return readFileSync(fixturePath(path.join('transcripts', name)), 'utf8').split('\n')
    .filter((l) => /^\d+,/.test(l)).map((l) => l.replace(/^\d+,/, ''))
}

const withoutNumbers = (stdout: string): string[] => stdout.split('\n').filter((l) => l !== '').map((l) => l.replace(/^\d+,/, ''))

describe('yubival keys export', () => {
  test('over the fixture tree: the lines yhsm-decrypt-aead --format yubikey-csv printed per folder, numbered 1..n', () => {
    const r = keys(['export', '--keyfile', t.keyfile('keys-multi.json'), '--aead-dir', fixturePath('aeads')])
    expect(r.status, r.stderr).toBe(0)
    const recorded = new Set([
      ...transcriptLines('07-decrypt-aead-yubikey-csv-kh1.txt'),
      ...transcriptLines('09-decrypt-aead-yubikey-csv-kh2.txt'),
      ...transcriptLines('10-decrypt-aead-yubikey-csv-kh0x3.txt')
    ])
    const lines = withoutNumbers(r.stdout)
    expect(new Set(lines)).toEqual(recorded)
    // credtivcccch is under key handles 1 and 2 with the same secret: printed once
    expect(lines).toHaveLength(recorded.size)
    expect(r.stderr).toContain('exported 13 credentials from 14 AEADs (1 more AEAD held a credential already printed)')
    const parsed = parseYubikeyCsv(r.stdout)
    expect(parsed.map((c) => c.n)).toEqual(parsed.map((_, i) => i + 1))
    // stable order: folder (0x3, 1, 2), then public id
    expect(parsed.map((c) => c.publicId).slice(0, 3)).toEqual(['eeeeeeeeeeee', 'ccftftftcccc', 'credtivccccb'])
  })

  test('AEADs that do not open are reported on stderr with pyhsm\'s summary line, exit 1; the others are printed', () => {
    // keys.json has key handle 1 only: folder 2 (2 files) and 0x3 (1 file) cannot be opened
    const r = keys(['export', '--keyfile', t.keyfile('keys.json'), '--aead-dir', fixturePath('aeads')])
    expect(r.status).toBe(1)
    expect(r.stderr).toContain(`error: ${path.join(fixturePath('aeads'), layoutPath('2', 'dddddddddddd'))}: made with key handle 2, which the keyfile does not have`)
    expect(r.stderr).toContain('error: 3/14 AEADs failed')
    expect(new Set(withoutNumbers(r.stdout))).toEqual(new Set(transcriptLines('07-decrypt-aead-yubikey-csv-kh1.txt')))
  })

  test('the edge tree: the readable variants are printed, the broken ones reported', () => {
    const r = keys(['export', '--keyfile', t.keyfile('keys-multi.json'), '--aead-dir', fixturePath('aeads-edge')])
    expect(r.status).toBe(1)
    expect(parseYubikeyCsv(r.stdout).map((c) => c.publicId)).toEqual(['cbcbcbcbcbcb', 'cdcdcdcdcdcd', 'cgcgcgcgcgcg', 'chchchchchch'])
    // version 0 file, as yhsm-decrypt-aead decoded it (transcript 12)
    expect(r.stdout).toContain('1,cbcbcbcbcbcb,a1a1a1a1a1a1,b1b1b1b1b1b1b1b1b1b1b1b1b1b1b1b1,000000000000,,,,,,\n')
    expect(r.stderr).toContain('unknown AEAD file format version 2')
    expect(r.stderr).toContain('error: 4/8 AEADs failed')
  })
})

interface Report {
  summary: Record<string, number>
  problems: Array<{ kind: string, path: string, detail: string }>
  notes: Array<{ kind: string, path: string, detail: string }>
}

function checkJson (args: string[]): { status: number | null, report: Report, stderr: string } {
  const r = keys(['check', '--json', ...args])
  return { status: r.status, report: JSON.parse(r.stdout) as Report, stderr: r.stderr }
}

describe('yubival keys check', () => {
  test('the fixture tree with all its key handles is clean (exit 0)', () => {
    const r = keys(['check', '--keyfile', t.keyfile('keys-multi.json'), '--aead-dir', fixturePath('aeads'), '--key-handle', '1,2,0x3'])
    expect(r.status, r.stdout + r.stderr).toBe(0)
    expect(r.stdout).toMatch(/checked 14 AEAD files under .* \(key handles 1, 2, 0x3\): 14 ok; problems: 0 unreadable, 0 unauthenticated, 0 unknown key handle, 0 orphan/)
    // the one credential stored under two key handles is mentioned, not counted as a problem
    expect(r.stdout).toContain('note: shadowed: credtivcccch')
  })

  test('folders of key handles that are not configured are orphans', () => {
    const { status, report } = checkJson(['--keyfile', t.keyfile('keys-multi.json'), '--aead-dir', fixturePath('aeads')])
    expect(status).toBe(1)
    expect(report.problems.map((p) => [p.kind, p.path])).toEqual([['orphan', `0x3${path.sep}`], ['orphan', `2${path.sep}`]])
    expect(report.problems[1]!.detail).toContain('holds 2 files')
    expect(report.summary).toMatchObject({ files: 11, ok: 11, orphan: 2, problems: 2 })
  })

  test('the edge tree: tampered, unknown version, truncated are found; version 0 and header/folder mismatch are notes', () => {
    const { status, report, stderr } = checkJson(['--keyfile', t.keyfile('keys-multi.json'), '--aead-dir', fixturePath('aeads-edge'), '--key-handle', '1,2'])
    expect(status).toBe(1)
    expect(stderr).toContain('4 problems found')
    expect(report.problems.map((p) => [p.kind, p.path])).toEqual([
      ['unauthenticated', layoutPath('1', 'cececececece')],
      ['unreadable', layoutPath('1', 'cfcfcfcfcfcf')],
      ['unauthenticated', layoutPath('1', 'chchchchchch')],
      ['unreadable', layoutPath('1', 'cicicicicici')]
    ])
    expect(report.problems[1]!.detail).toContain('version 2')
    expect(report.problems[3]!.detail).toContain('AEAD is 20 bytes')
    expect(report.notes.map((n) => [n.kind, n.path])).toEqual([
      ['version_0', layoutPath('1', 'cbcbcbcbcbcb')],
      ['key_handle_mismatch', layoutPath('1', 'cgcgcgcgcgcg')],
      ['shadowed', 'chchchchchch']
    ])
    expect(report.summary).toMatchObject({ files: 8, ok: 4, unreadable: 2, unauthenticated: 2, unknown_key_handle: 0, orphan: 0 })
  })

  test('unknown key handles and stray files', () => {
    const tree = path.join(t.dir, 'edge')
    cpSync(fixturePath('aeads-edge'), tree, { recursive: true })
    writeFileSync(path.join(tree, '1', 'README'), 'not an AEAD')
    writeFileSync(path.join(tree, '1', 'cb', 'cbcbcbcbcbcd'), 'misplaced')
    writeFileSync(path.join(tree, '1', 'cb', '.cbcbcbcbcbcd.1234.tmp'), 'left over')
    writeFileSync(path.join(tree, 'stray'), 'x')
    // keys.json has no key handle 2: cgcg… (header 2) and folder 2's chch… cannot be checked
    const { status, report } = checkJson(['--keyfile', t.keyfile('keys.json'), '--aead-dir', tree, '--key-handle', '1,2'])
    expect(status).toBe(1)
    const by = (kind: string): string[] => report.problems.filter((p) => p.kind === kind).map((p) => p.path)
    expect(by('unknown_key_handle')).toEqual([layoutPath('1', 'cgcgcgcgcgcg'), layoutPath('2', 'chchchchchch')])
    expect(by('orphan')).toEqual([
      path.join('1', 'README'),
      path.join('1', 'cb', '.cbcbcbcbcbcd.1234.tmp'),
      path.join('1', 'cb', 'cbcbcbcbcbcd'),
      'stray'
    ])
    expect(report.problems.find((p) => p.path.endsWith('cbcbcbcbcbcd'))!.detail).toContain('not where the layout puts public id cbcbcbcbcbcd')
    expect(report.notes.map((n) => n.kind)).toContain('key_handle_not_in_keyfile')
  })

  test('a missing AEAD directory is an error, not an empty success', () => {
    const r = keys(['check', '--keyfile', t.keyfile(), '--aead-dir', path.join(t.dir, 'none')])
    expect(r.status).toBe(1)
    expect(r.stderr).toContain(`AEAD directory ${path.join(t.dir, 'none')} does not exist`)
  })
})
