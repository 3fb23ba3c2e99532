// /healthz and /readyz of a real `yubival serve` whose PostgreSQL goes away (connections reset), hangs
// (a black-holed network), comes back; and whose schema version or AEAD tree goes wrong.
import { renameSync } from 'node:fs'
import pg from 'pg'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { expectedMigrationVersion } from '../../src/db/migrate.js'
import { createInstallation, type TestInstallation } from '../helpers/environment.js'
import { freePort, spawnServe, type ServeProcess } from '../helpers/serve-process.js'
import { startTcpProxy, type TcpProxy } from '../helpers/tcp-proxy.js'
import { verifyOtp } from '../helpers/wsapi-client.js'
import { yubiotpOtp } from '../helpers/yubiotp.js'

const havePg = process.env.TEST_DATABASE_URL !== undefined
if (process.env.CI !== undefined && !havePg) throw new Error('CI must set TEST_DATABASE_URL')

interface Probe { status: number, body: { status: string, checks?: Record<string, { ok: boolean, detail?: string }> } }

describe.skipIf(!havePg)('health and readiness while the database comes and goes', () => {
  let inst: TestInstallation
  let proxy: TcpProxy
  let server: ServeProcess
  let base: string
  let admin: string
  let db: pg.Client

  beforeAll(async () => {
    inst = await createInstallation()
    const url = inst.env.DATABASE_URL as string
    const u = new URL(url)
    proxy = await startTcpProxy({ host: u.hostname, port: Number(u.port || 5432) })
    server = await spawnServe({
      ...inst.env,
      DATABASE_URL: proxy.rewrite(url),
      YUBIVAL_READY_TIMEOUT_MS: '500',
      YUBIVAL_ADMIN_PORT: String(await freePort())
    })
    base = `http://127.0.0.1:${server.port}`
    admin = `http://127.0.0.1:${server.adminPort}`
    db = new pg.Client({ connectionString: url })
    await db.connect()
  })
  afterAll(async () => {
    await db?.end()
    const code = await server?.stop()
    await proxy?.close()
    await inst?.cleanup()
    expect(code).toBe(0)
  })

  async function probe (url: string): Promise<Probe> {
    const res = await fetch(url)
    return { status: res.status, body: await res.json() as Probe['body'] }
  }
  /** Polls /readyz until it answers `status` (the pool needs a moment to notice and to reconnect). */
  async function readyzBecomes (status: number): Promise<Probe> {
    const until = Date.now() + 30_000
    for (;;) {
      const p = await probe(`${base}/readyz`)
      if (p.status === status || Date.now() > until) return p
      await new Promise((resolve) => setTimeout(resolve, 100))
    }
  }

  it('is alive and ready on both listeners, with every check named', async () => {
    for (const root of [base, admin]) {
      expect(await probe(`${root}/healthz`)).toEqual({ status: 200, body: { status: 'ok' } })
      const ready = await probe(`${root}/readyz`)
      expect(ready.status).toBe(200)
      expect(ready.body).toEqual({
        status: 'ready',
        checks: { keyfile: { ok: true }, database: { ok: true }, migrations: { ok: true }, aeads: { ok: true } }
      })
    }
  })

  it('database gone (connections reset): not ready, still alive, verify says BACKEND_ERROR; ready again when it is back', async () => {
    proxy.setMode('down')
    const down = await readyzBecomes(503)
    expect(down.status).toBe(503)
    expect(down.body.status).toBe('not ready')
    expect(down.body.checks?.database?.ok).toBe(false)
    expect((await probe(`${admin}/readyz`)).status).toBe(503)
    expect((await probe(`${base}/healthz`)).status).toBe(200)
    const v = await verifyOtp(base, inst.client, yubiotpOtp(inst.keys[0]!, 1, 0))
    expect(v.status).toBe('BACKEND_ERROR')

    proxy.setMode('pass')
    expect((await readyzBecomes(200)).status).toBe(200)
    const ok = await verifyOtp(base, inst.client, yubiotpOtp(inst.keys[0]!, 1, 1))
    expect(ok.status).toBe('OK')
  })

  it('database hanging (black-holed network): /readyz still answers, 503 after YUBIVAL_READY_TIMEOUT_MS', async () => {
    proxy.setMode('freeze')
    try {
      const hung = await probe(`${base}/readyz`)
      expect(hung.status).toBe(503)
      expect(hung.body.checks?.database).toEqual({ ok: false, detail: 'database did not answer within 500 ms' })
      expect((await probe(`${base}/healthz`)).status).toBe(200)
    } finally {
      proxy.setMode('pass')
    }
    expect((await readyzBecomes(200)).status).toBe(200)
  })

  it('schema at another version than this code expects: not ready, naming both versions', async () => {
    await db.query("INSERT INTO yubival_schema_version (version, name, md5, run_at) VALUES (999, 'from-the-future', '', now())")
    try {
      const p = await readyzBecomes(503)
      expect(p.body.checks?.database).toEqual({ ok: true })
      expect(p.body.checks?.migrations).toEqual({ ok: false, detail: `schema version 999, expected ${await expectedMigrationVersion()}` })
    } finally {
      await db.query('DELETE FROM yubival_schema_version WHERE version = 999')
    }
    expect((await readyzBecomes(200)).status).toBe(200)
  })

  it('AEAD directory gone (an unmounted volume): not ready', async () => {
    const dir = inst.env.YUBIVAL_AEAD_DIR as string
    renameSync(dir, `${dir}.away`)
    try {
      const p = await readyzBecomes(503)
      expect(p.body.checks?.aeads?.ok).toBe(false)
      expect(p.body.checks?.aeads?.detail).toContain('ENOENT')
    } finally {
      renameSync(`${dir}.away`, dir)
    }
    expect((await readyzBecomes(200)).status).toBe(200)
  })

  it('probes are not in the request log', async () => {
    await server.waitForOutput('"msg":"verify"')
    expect(server.output()).not.toMatch(/healthz|readyz/)
  })
})
