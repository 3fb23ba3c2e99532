// Dockerfile, .dockerignore and docker-compose.yml, checked without a container engine: the promises
// they make (non-root, node as PID 1, nothing secret baked in, read-only mounts, loopback ports), and
// the image's HEALTHCHECK command run for real against a `yubival serve`.
// (scripts/container-test.sh builds and runs the image itself with podman.)
import { spawnSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createTestDatabase, type TestDatabase } from '../helpers/database.js'
import { freePort, spawnServe, type ServeProcess } from '../helpers/serve-process.js'

const ROOT = path.resolve(import.meta.dirname, '..', '..')
const dockerfile = readFileSync(path.join(ROOT, 'Dockerfile'), 'utf8')
// Continuation lines joined, comments dropped: one instruction per entry.
const instructions = dockerfile.replace(/\\\n\s*/g, ' ').split('\n').map((l) => l.trim()).filter((l) => l !== '' && !l.startsWith('#'))
const stages = instructions.join('\n').split(/^FROM /m).slice(1).map((s) => `FROM ${s}`)

function jsonArg (instruction: string, prefix: string): string[] {
  const line = instructions.filter((l) => l.startsWith(prefix)).at(-1)
  if (line === undefined) throw new Error(`no ${prefix} in the Dockerfile`)
  return JSON.parse(line.slice(line.indexOf('['))) as string[]
}

describe('Dockerfile', () => {
  it('builds in one stage and runs from a fresh node:20-bookworm-slim with production dependencies only', () => {
    expect(stages).toHaveLength(2)
    expect(stages[0]).toMatch(/^FROM node:20-bookworm-slim AS build/)
    expect(stages[0]).toContain('npm ci')
    expect(stages[0]).toContain('npm run build')
    expect(stages[0]).toContain('npm prune --omit=dev')
    expect(stages[1]).toMatch(/^FROM node:20-bookworm-slim\n/)
    expect(stages[1]).not.toMatch(/npm (ci|install)/)
    for (const what of ['/app/node_modules', '/app/dist', 'migrations', 'bin']) expect(stages[1]).toContain(what)
  })

  it('runs as the unprivileged node user, node itself as PID 1, listening on all interfaces', () => {
    expect(stages[1]).toMatch(/^USER node$/m)
    // the server alone gets a heap limit (RSS ≤ 150 MB under load, docs/benchmarks.md)
    expect(jsonArg('', 'CMD ')).toEqual(['node', '--max-old-space-size=128', 'bin/yubival', 'serve'])
    expect(stages[1]).toContain('YUBIVAL_HOST=0.0.0.0')
    expect(stages[1]).toContain('YUBIVAL_KEYFILE=/etc/yubival/keys.json')
    expect(stages[1]).toContain('YUBIVAL_AEAD_DIR=/var/lib/yubival/aeads')
  })

  it('bakes nothing secret in: no keyfile, no database URL, no secret settings', () => {
    for (const line of instructions) {
      if (/^(ENV|ARG) /.test(line)) expect(line).not.toMatch(/DATABASE_URL|SECRET|PASSWORD|TOKEN/i)
      if (/^(COPY|ADD) /.test(line)) expect(line).not.toMatch(/keys|secret|aead|\.env|\s\.\s/i)
    }
    const ignore = readFileSync(path.join(ROOT, '.dockerignore'), 'utf8').split('\n')
    for (const entry of ['node_modules', 'dist', 'data', 'secrets', 'aeads', '.git', 'keys.example.json']) expect(ignore).toContain(entry)
  })

  it('has a HEALTHCHECK that needs no curl', () => {
    const cmd = jsonArg('', 'HEALTHCHECK ')
    expect(cmd[0]).toBe('node')
    expect(cmd.join(' ')).not.toMatch(/curl|wget/)
  })
})

describe('the image HEALTHCHECK command against a real yubival serve', () => {
  let t: TestDatabase
  let server: ServeProcess
  const cmd = jsonArg('', 'HEALTHCHECK ')

  beforeAll(async () => {
    t = await createTestDatabase()
    await t.close()
    server = await spawnServe({
      YUBIVAL_DATA_DIR: t.dataDir,
      ...(t.url !== null ? { DATABASE_URL: t.url } : {}),
      YUBIVAL_ADMIN_PORT: String(await freePort())
    })
  })
  afterAll(async () => {
    if (server?.child.exitCode === null) await server.stop()
    await t?.drop()
  })

  function healthcheck (env: Record<string, string>): number | null {
    const clean = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('YUBIVAL_')))
    return spawnSync(cmd[0]!, cmd.slice(1), { env: { ...clean, ...env }, timeout: 30_000 }).status
  }

  it('passes through the admin listener, and through the API port when there is none', async () => {
    expect(healthcheck({ YUBIVAL_ADMIN_PORT: String(server.adminPort) })).toBe(0)
    expect(healthcheck({ YUBIVAL_ADMIN_PORT: '0', YUBIVAL_PORT: String(server.port) })).toBe(0)
  })

  it('fails when nothing answers', async () => {
    const admin = String(server.adminPort)
    expect(await server.stop()).toBe(0)
    expect(healthcheck({ YUBIVAL_ADMIN_PORT: admin })).toBe(1)
  })
})

describe('docker-compose.yml', () => {
  // PyYAML from Debian (no YAML parser among our npm dependencies); `<<` merge keys resolved.
  const r = spawnSync('/usr/bin/python3', ['-c', 'import sys, json, yaml; print(json.dumps(yaml.safe_load(open(sys.argv[1]))))',
    path.join(ROOT, 'docker-compose.yml')], { encoding: 'utf8' })
  const haveYaml = r.status === 0
  type Service = Record<string, unknown> & { volumes?: string[], ports?: string[], environment?: Record<string, string> }
  const compose = (haveYaml ? JSON.parse(r.stdout) : { services: {} }) as { services: Record<string, Service>, secrets: Record<string, { file: string }> }

  it.skipIf(!haveYaml)('PostgreSQL with a volume and a pg_isready health check', () => {
    const db = compose.services.db!
    expect(db.volumes).toContain('pgdata:/var/lib/postgresql/data')
    expect(JSON.stringify(db.healthcheck)).toContain('pg_isready')
    expect(db.environment?.POSTGRES_PASSWORD_FILE).toBe('/run/secrets/db_password')
  })

  it.skipIf(!haveYaml)('yubival waits for a healthy database, mounts keyfile and AEADs read-only, publishes on loopback only', () => {
    const y = compose.services.yubival!
    expect(y.depends_on).toEqual({ db: { condition: 'service_healthy' } })
    expect(y.volumes).toEqual(['./secrets/keys.json:/etc/yubival/keys.json:ro', './aeads:/var/lib/yubival/aeads:ro'])
    expect(y.ports?.length).toBeGreaterThan(0)
    for (const p of y.ports ?? []) expect(p).toMatch(/^127\.0\.0\.1:/)
    expect(y.environment?.DATABASE_URL_FILE).toBe('/run/secrets/database_url')
    expect(y.environment?.DATABASE_URL).toBeUndefined()
    expect(y.read_only).toBe(true)
  })

  it.skipIf(!haveYaml)('the admin tool service is opt-in and the only one with a writable AEAD tree', () => {
    const a = compose.services.admin!
    expect(a.profiles).toEqual(['tools'])
    expect(a.volumes).toContain('./aeads:/var/lib/yubival/aeads')
    expect(a.entrypoint).toEqual(['node', 'bin/yubival'])
  })

  it.skipIf(!haveYaml)('every environment variable it sets is one yubival knows', async () => {
    const { KNOWN_ENV, FILE_SETTINGS } = await import('../../src/config.js')
    const known = new Set<string>([...KNOWN_ENV, ...FILE_SETTINGS.map((s) => `${s}_FILE`)])
    for (const name of ['yubival', 'admin']) {
      for (const key of Object.keys(compose.services[name]!.environment ?? {})) expect(known, key).toContain(key)
    }
  })
})
