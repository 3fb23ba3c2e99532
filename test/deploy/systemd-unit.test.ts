// deploy/yubival.service: systemd's own parser accepts it without a single warning, it carries the
// hardening we promise, and deploy/yubival.env.example holds only settings yubival knows.
import { spawnSync } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { describe, expect, it } from 'vitest'
import { loadConfig } from '../../src/config.js'

const ROOT = path.resolve(import.meta.dirname, '..', '..')
const UNIT = path.join(ROOT, 'deploy', 'yubival.service')
const haveAnalyze = existsSync('/usr/bin/systemd-analyze')

function analyze (args: string[]): { status: number | null, out: string } {
  const r = spawnSync('systemd-analyze', args, { encoding: 'utf8' })
  return { status: r.status, out: (r.stdout + r.stderr).trim() }
}

/** key → values of the [Service] section (keys may repeat). */
function serviceSection (text: string): Map<string, string[]> {
  const out = new Map<string, string[]>()
  let section = ''
  for (const raw of text.split('\n')) {
    const line = raw.trim()
    if (line === '' || line.startsWith('#')) continue
    const m = /^\[(.+)\]$/.exec(line)
    if (m !== null) { section = m[1]!; continue }
    if (section !== 'Service') continue
    const i = line.indexOf('=')
    const key = line.slice(0, i)
    out.set(key, [...(out.get(key) ?? []), line.slice(i + 1)])
  }
  return out
}

describe('deploy/yubival.service', () => {
  const unit = readFileSync(UNIT, 'utf8')
  const service = serviceSection(unit)

  it.skipIf(!haveAnalyze)('passes systemd-analyze verify with no output at all', () => {
    const r = analyze(['verify', UNIT])
    expect(r.out).toBe('')
    expect(r.status).toBe(0)
  })

  it.skipIf(!haveAnalyze)('the verify check would notice a typo (negative control)', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'yubival-unit-'))
    try {
      const bad = path.join(dir, 'yubival.service')
      writeFileSync(bad, unit.replace('ProtectSystem=strict', 'ProtectSytem=strict'))
      expect(analyze(['verify', bad]).out).toContain("Unknown key 'ProtectSytem'")
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })

  it.skipIf(!haveAnalyze)('rates as well sandboxed by systemd-analyze security', () => {
    const r = analyze(['security', '--offline=true', UNIT])
    expect(r.out).toMatch(/Overall exposure level for yubival\.service: [0-1]\.\d OK/)
  })

  it('runs node directly as a dedicated user, with the environment file and a stop timeout above the grace period', () => {
    expect(service.get('User')).toEqual(['yubival'])
    expect(service.get('ExecStart')).toEqual(['/usr/bin/node --max-old-space-size=128 /opt/yubival/bin/yubival serve'])
    expect(service.get('EnvironmentFile')).toEqual(['/etc/yubival/yubival.env'])
    expect(service.get('RestartPreventExitStatus')).toEqual(['2'])
    const stop = Number(/^(\d+)s$/.exec(service.get('TimeoutStopSec')?.[0] ?? '')?.[1])
    expect(stop * 1000).toBeGreaterThan(loadConfig({}).shutdownGraceMs)
  })

  it('has the promised hardening, and read-only keyfile and AEADs', () => {
    for (const [key, value] of Object.entries({
      NoNewPrivileges: 'yes', ProtectSystem: 'strict', ProtectHome: 'yes', PrivateTmp: 'yes', PrivateDevices: 'yes',
      RestrictAddressFamilies: 'AF_INET AF_INET6 AF_UNIX', CapabilityBoundingSet: '', UMask: '0077'
    })) {
      expect(service.get(key), key).toEqual([value])
    }
    expect(service.get('ReadOnlyPaths')?.[0]?.split(' ')).toEqual(['/etc/yubival', '/var/lib/yubival/aeads'])
    expect(service.get('SystemCallFilter')).toContain('@system-service')
    // V8 needs W+X memory: this setting would make node crash at start.
    expect(service.has('MemoryDenyWriteExecute')).toBe(false)
  })
})

describe('deploy/yubival.env.example', () => {
  it('is accepted by loadConfig (no unknown or invalid settings)', () => {
    const env: Record<string, string> = {}
    for (const line of readFileSync(path.join(ROOT, 'deploy', 'yubival.env.example'), 'utf8').split('\n')) {
      const m = /^([A-Z_]+)=(.*)$/.exec(line)
      if (m !== null) env[m[1]!] = m[2]!
    }
    expect(Object.keys(env)).toContain('DATABASE_URL')
    const config = loadConfig(env)
    expect(config).toMatchObject({ keyfile: '/etc/yubival/keys.json', aeadDir: '/var/lib/yubival/aeads', adminHost: '127.0.0.1' })
  })
})
