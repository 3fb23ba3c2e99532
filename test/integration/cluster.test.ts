// `yubival serve` with YUBIVAL_WORKERS=2 as real processes: both workers answer, a replay race across
// them gives one OK, /metrics on the primary sums the workers, a killed worker is replaced, SIGTERM
// lets a request in flight finish and exits 0; with the embedded PGlite database it is refused.
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createInstallation, type TestInstallation } from '../helpers/environment.js'
import { freePort, spawnServe, type ServeProcess } from '../helpers/serve-process.js'
import { lockYubikeys, type TableLock } from '../helpers/table-lock.js'
import { randomNonce, verifyOtp } from '../helpers/wsapi-client.js'
import { yubiotpOtps } from '../helpers/yubiotp.js'

const havePg = process.env.TEST_DATABASE_URL !== undefined
if (process.env.CI !== undefined && !havePg) throw new Error('CI must set TEST_DATABASE_URL')

interface LogLine { msg?: string, pid?: number, status?: string }

function logLines (server: ServeProcess): LogLine[] {
  return server.output().split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as LogLine)
}

/** Pids of the workers that logged `msg` so far. */
function pidsLogging (server: ServeProcess, msg: string): Set<number> {
  return new Set(logLines(server).filter((l) => l.msg === msg && l.pid !== undefined).map((l) => l.pid as number))
}

async function until (cond: () => boolean | Promise<boolean>, what: string): Promise<void> {
  const deadline = Date.now() + 30_000
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
}

/** Sum of a counter's series on the primary's /metrics whose labels contain `labels`. */
async function counterSum (adminPort: number, name: string, labels: string): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${adminPort}/metrics`)).text()
  return text.split('\n').filter((l) => l.startsWith(`${name}{`) && l.includes(labels))
    .reduce((sum, l) => sum + Number(l.slice(l.lastIndexOf(' ') + 1)), 0)
}

describe.skipIf(!havePg)('yubival serve with YUBIVAL_WORKERS=2', () => {
  let inst: TestInstallation
  let server: ServeProcess
  let base: string
  const counters: number[] = []
  /** One fresh OTP from each of the first n keys: safe to send at once (no two of the same key race). */
  const batch = (n: number): string[] => inst.keys.slice(0, n).map((key, i) => {
    counters[i] = (counters[i] ?? 0) + 1
    return yubiotpOtps(key, [{ counter: counters[i], use: 0 }])[0]!
  })

  beforeAll(async () => {
    inst = await createInstallation({ keyCount: 20 })
    // An admin listener on a free port (the helper reads it from the "yubival listening" line).
    server = await spawnServe({ ...inst.env, YUBIVAL_WORKERS: '2', YUBIVAL_ADMIN_PORT: String(await freePort()) })
    base = `http://127.0.0.1:${server.port}`
  })
  afterAll(async () => {
    await server?.stop()
    await inst?.cleanup()
  })

  it('announces itself once, from the primary, with an admin listener', async () => {
    await until(() => pidsLogging(server, 'worker listening').size === 2, 'both workers to log that they listen')
    const listening = logLines(server).filter((l) => l.msg === 'yubival listening')
    expect(listening).toHaveLength(1)
    expect(listening[0]).toMatchObject({ workers: 2 })
    expect(server.adminPort).not.toBeNull()
  })

  it('serves verifies from both worker processes', async () => {
    // Concurrent requests open several connections, which the primary hands out in turn.
    const results = await Promise.all(batch(20).map(async (otp) => verifyOtp(base, inst.client, otp)))
    expect(results.map((r) => r.status)).toEqual(Array(20).fill('OK'))
    await until(() => pidsLogging(server, 'verify').size === 2, 'verify log lines from two worker pids')
  })

  it('a replay race across the workers gives exactly one OK per OTP', async () => {
    for (const otp of batch(10)) {
      const results = await Promise.all(Array.from({ length: 20 }, async () => verifyOtp(base, inst.client, otp, { nonce: randomNonce() })))
      const statuses = results.map((r) => r.status)
      expect(statuses.filter((s) => s === 'OK')).toHaveLength(1)
      expect(statuses.filter((s) => s !== 'OK')).toEqual(Array(19).fill('REPLAYED_OTP'))
    }
  })

  it('/metrics on the primary has every worker\'s series, labelled with its slot', async () => {
    const okBefore = await counterSum(server.adminPort!, 'verify_total', 'status="OK"')
    const results = await Promise.all(batch(12).map(async (otp) => verifyOtp(base, inst.client, otp)))
    expect(results.every((r) => r.status === 'OK')).toBe(true)
    expect(await counterSum(server.adminPort!, 'verify_total', 'status="OK"')).toBe(okBefore + 12)
    const text = await (await fetch(`http://127.0.0.1:${server.adminPort!}/metrics`)).text()
    const slots = new Set(text.split('\n').filter((l) => l.startsWith('verify_total{status="OK"')).map((l) => /worker="(\d+)"/.exec(l)?.[1]))
    expect(slots).toEqual(new Set(['1', '2']))
    // every OK so far, whichever worker answered it (log lines are written in batches: wait for them)
    const okLogged = (): number => logLines(server).filter((l) => l.msg === 'verify' && l.status === 'OK').length
    await until(() => okLogged() >= okBefore + 12, 'the verify log lines')
    expect(okLogged()).toBe(okBefore + 12)
    const ready = await fetch(`http://127.0.0.1:${server.adminPort!}/readyz`)
    expect(ready.status).toBe(200)
    expect(await ready.json()).toMatchObject({ checks: { workers: { ok: true, detail: '2 of 2 worker processes listening' } } })
  })

  it('replaces a worker that dies; meanwhile /metrics answers and a SIGHUP harms nobody', async () => {
    const before = pidsLogging(server, 'worker listening')
    const victim = [...before][0]!
    process.kill(victim, 'SIGKILL')
    await server.waitForOutput('worker process died; starting another')
    // while the replacement starts: SIGHUP goes to listening workers only, and a scrape does not wait for it
    server.signal('SIGHUP')
    const scrape = await fetch(`http://127.0.0.1:${server.adminPort!}/metrics`)
    expect(scrape.status).toBe(200)
    expect(await scrape.text()).toMatch(/verify_total\{status="OK",reason="ok",worker="\d"\}/)
    await until(() => pidsLogging(server, 'worker listening').size === 3, 'a third worker to listen')
    // no worker was ended by the SIGHUP; the replacement took the dead worker's slot
    expect(logLines(server).filter((l) => l.msg === 'worker process died; starting another')).toHaveLength(1)
    const text = await (await fetch(`http://127.0.0.1:${server.adminPort!}/metrics`)).text()
    expect(new Set(text.split('\n').filter((l) => l.startsWith('verify_total{status="OK"')).map((l) => /worker="(\d+)"/.exec(l)?.[1]))).toEqual(new Set(['1', '2']))
    const results = await Promise.all(batch(10).map(async (otp) => verifyOtp(base, inst.client, otp)))
    expect(results.every((r) => r.status === 'OK')).toBe(true)
  })

  it('SIGHUP to the primary (systemctl reload) reaches every worker; all keep serving', async () => {
    const listening = pidsLogging(server, 'worker listening')
    const alive = [...listening].filter((pid) => { try { process.kill(pid, 0); return true } catch { return false } })
    server.signal('SIGHUP')
    await server.waitForOutput('SIGHUP: passed on to the workers')
    await until(() => alive.every((pid) => pidsLogging(server, 'SIGHUP: reloaded').has(pid)), 'every worker to reload')
    const results = await Promise.all(batch(10).map(async (otp) => verifyOtp(base, inst.client, otp)))
    expect(results.every((r) => r.status === 'OK')).toBe(true)
  })
})

describe.skipIf(!havePg)('yubival serve with YUBIVAL_WORKERS=2: SIGTERM with a verify in flight', () => {
  let inst: TestInstallation
  let lock: TableLock | undefined

  beforeAll(async () => { inst = await createInstallation({ keyCount: 1 }) })
  afterAll(async () => {
    await lock?.end()
    await inst?.cleanup()
  })

  it('finishes the request, then every process exits and the primary exits 0', async () => {
    const server = await spawnServe({ ...inst.env, YUBIVAL_WORKERS: '2', YUBIVAL_DB_STATEMENT_TIMEOUT_MS: '120000' })
    lock = await lockYubikeys(inst.env.DATABASE_URL!)
    const [otp] = yubiotpOtps(inst.keys[0]!, [{ counter: 1, use: 0 }])
    const pending = verifyOtp(`http://127.0.0.1:${server.port}`, inst.client, otp!)
    await lock.waitForWaiter()
    let exitCode: number | null | undefined
    void server.exited.then((code) => { exitCode = code })
    server.signal('SIGTERM')
    await server.waitForOutput('workers stop accepting and finish requests in flight')
    await new Promise((resolve) => setTimeout(resolve, 300))
    expect(exitCode).toBeUndefined()

    await lock.release()
    expect((await pending).status).toBe('OK')
    expect(await server.exited).toBe(0)
    expect(server.output()).toContain('shut down cleanly')
  })
})

describe('yubival serve with YUBIVAL_WORKERS=2 on the embedded PGlite database', () => {
  it('is refused with an error naming YUBIVAL_WORKERS (exit 2)', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'yubival-cluster-pglite-'))
    try {
      const failure = await spawnServe({ YUBIVAL_DATA_DIR: dir, DATABASE_URL: '', YUBIVAL_WORKERS: '2' }).then(
        async (s) => { await s.stop(); return null }, (err: Error) => err)
      expect(failure?.message).toMatch(/exited with 2/)
      expect(failure?.message).toMatch(/YUBIVAL_WORKERS: 2 processes need PostgreSQL/)
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
})
