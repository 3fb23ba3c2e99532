// The database goes away, freezes or crawls while yubival is under load, on a PostgreSQL cluster of our
// own. What must hold every time: no OK without a commit, every answer is OK or BACKEND_ERROR (never a
// hang, an HTTP error or a crash), /readyz says 503 while the database is gone, verifies work again soon
// after it is back (no restart), and no OTP is ever accepted twice — not even when a statement that
// timed out on our side commits late and the client retries the same OTP.
import pg from 'pg'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createInstallation, type TestInstallation } from '../helpers/environment.js'
import { startServer, type ServerProcess } from '../helpers/server-process.js'
import { yubiotpOtps } from '../helpers/yubiotp.js'
import { startLoad, waitForRecord, type Load, type LoadRecord } from './helpers/load.js'
import { OtpStream } from './helpers/otp-stream.js'
import { createPgCluster, pgClusterAvailable, type PgCluster } from './helpers/pg-cluster.js'
import { report, size } from './helpers/scale.js'
import { countBy, probe, sleep, verify } from './helpers/verify-client.js'

if (process.env.CI !== undefined && !pgClusterAvailable()) throw new Error('CI needs PostgreSQL 15 binaries for the fault tests')

const STATEMENT_TIMEOUT_MS = 500
// The most a verify may take with the database gone or frozen: a pool wait, then up to three statements
// (client lookup, accept, refusal read), each ended by pg's client-side timeout (statement + 1 s).
const WORST_CASE_MS = 4 * (STATEMENT_TIMEOUT_MS + 1000)
const RECOVERY_LIMIT_MS = 5000
const KEYS = 6
const OUTAGE_MS = size('outage_ms', 2500, 10_000)

describe.skipIf(!pgClusterAvailable())('database faults under load (own PostgreSQL cluster)', () => {
  let cluster: PgCluster
  let inst: TestInstallation
  let server: ServerProcess
  let streams: OtpStream[]

  beforeAll(async () => {
    cluster = await createPgCluster()
    inst = await createInstallation({ keyCount: KEYS + 2, database: { serverUrl: cluster.adminUrl } })
    server = await startServer({
      ...inst.env,
      YUBIVAL_ADMIN_PORT: '0',
      YUBIVAL_DB_STATEMENT_TIMEOUT_MS: String(STATEMENT_TIMEOUT_MS),
      YUBIVAL_READY_TIMEOUT_MS: '500',
      YUBIVAL_CLIENT_CACHE_MS: '0'
    })
    streams = inst.keys.slice(0, KEYS).map((k) => new OtpStream(k))
  })
  afterAll(async () => {
    await server?.stop()
    await inst?.cleanup().catch(() => undefined)
    cluster?.destroy()
  })

  /** One statement on a connection of its own (the cluster restarts under us; nothing may linger). */
  async function query<R extends pg.QueryResultRow> (text: string, params: unknown[] = []): Promise<R[]> {
    const c = new pg.Client({ connectionString: inst.env.DATABASE_URL })
    c.on('error', () => undefined)
    await c.connect()
    try {
      return (await c.query<R>(text, params)).rows
    } finally {
      await c.end()
    }
  }

  function runLoad (): Load {
    return startLoad({ urls: () => [server.url], client: inst.client, streams, deadlineMs: WORST_CASE_MS + 5000, retryBackendErrors: true })
  }

  /** The checks every fault scenario shares, once the load has stopped and the database is back. */
  async function checkAfterwards (records: LoadRecord[], label: string): Promise<Record<string, unknown>> {
    const statuses = countBy(records, (r) => r.status)
    // Only OK and BACKEND_ERROR are right for fresh OTPs; REPLAYED_OTP only for the retry of an OTP whose
    // earlier attempt committed although we answered BACKEND_ERROR (the safe side of a late commit).
    const byOtp = new Map<string, LoadRecord[]>()
    for (const r of records) byOtp.set(r.otp, [...(byOtp.get(r.otp) ?? []), r])
    let lateCommits = 0
    for (const [otp, rs] of byOtp) {
      expect(rs.filter((r) => r.status === 'OK').length, `${label}: OKs for one OTP`).toBeLessThanOrEqual(1)
      for (const [i, r] of rs.entries()) {
        if (r.status === 'REPLAYED_OTP') {
          expect(rs[i - 1]?.status, `${label}: REPLAYED_OTP for a fresh OTP ${otp.slice(0, 12)}`).toBe('BACKEND_ERROR')
          lateCommits++
        } else {
          expect(['OK', 'BACKEND_ERROR'], label).toContain(r.status)
        }
        expect(r.answeredAt - r.sentAt, `${label}: answer time`).toBeLessThanOrEqual(WORST_CASE_MS)
      }
    }
    // Every OTP that was answered OK is still spent, and no stored counter is behind an OK.
    const oks = records.filter((r) => r.status === 'OK')
    for (const r of oks) {
      const again = await verify(server.url, inst.client, r.otp)
      expect(again.status, `${label}: replay of an accepted OTP`).toBe('REPLAYED_OTP')
    }
    for (let k = 0; k < KEYS; k++) {
      const maxOk = Math.max(-1, ...oks.filter((r) => r.key === k).map((r) => r.counter))
      const rows = await query<{ yk_counter: number }>('SELECT yk_counter FROM yubikeys WHERE yk_publicname = $1', [inst.keys[k]!.publicId])
      expect(rows[0]?.yk_counter ?? -1, `${label}: stored counter of key ${k}`).toBeGreaterThanOrEqual(maxOk)
    }
    expect(server.child.exitCode, `${label}: the server is still running`).toBeNull()
    return { statuses, lateCommits, oks: oks.length, answers: records.length }
  }

  for (const mode of ['fast', 'immediate'] as const) {
    it(`PostgreSQL stopped (${mode}) during load: BACKEND_ERROR only, /readyz 503, back within 5 s, nothing lost`, async () => {
      const load = runLoad()
      expect(await waitForRecord(load, 0, (r) => r.status === 'OK', 30_000)).not.toBeNull()
      await sleep(300)

      cluster.stop(mode)
      const down = Date.now()
      await sleep(OUTAGE_MS / 2)
      const readyDuringOutage = await probe(`${server.url}/readyz`)
      const healthDuringOutage = await probe(`${server.url}/healthz`)
      await sleep(OUTAGE_MS / 2)
      const upAgain = Date.now()
      cluster.start()
      const started = Date.now()
      const recoveryMs = await waitForRecord(load, started, (r) => r.status === 'OK', 30_000)
      await sleep(500)
      const records = await load.stop()
      const readyAfter = await probe(`${server.url}/readyz`)

      const duringOutage = records.filter((r) => r.sentAt >= down && r.answeredAt <= upAgain)
      expect(duringOutage.length).toBeGreaterThan(0)
      expect(countBy(duringOutage, (r) => r.status)).toEqual({ BACKEND_ERROR: duringOutage.length })
      expect(readyDuringOutage).toBe(503)
      expect(healthDuringOutage).toBe(200)
      expect(readyAfter).toBe(200)
      expect(recoveryMs).not.toBeNull()
      expect(recoveryMs!).toBeLessThanOrEqual(RECOVERY_LIMIT_MS)
      const summary = await checkAfterwards(records, `stop ${mode}`)
      report(`db-stop-${mode}`, { ...summary, outageAnswers: duringOutage.length, recoveryMs })
    }, 120_000)
  }

  it('PostgreSQL frozen (SIGSTOP) during load: BACKEND_ERROR within the timeouts, late commits never accept twice', async () => {
    const load = runLoad()
    expect(await waitForRecord(load, 0, (r) => r.status === 'OK', 30_000)).not.toBeNull()
    await sleep(300)

    cluster.freeze()
    const frozen = Date.now()
    let readyDuringFreeze = 0
    try {
      await sleep(WORST_CASE_MS)
      readyDuringFreeze = await probe(`${server.url}/readyz`)
      await sleep(OUTAGE_MS / 2)
    } finally {
      cluster.thaw()
    }
    const thawed = Date.now()
    const recoveryMs = await waitForRecord(load, thawed, (r) => r.status === 'OK', 30_000)
    await sleep(500)
    const records = await load.stop()

    const duringFreeze = records.filter((r) => r.sentAt >= frozen && r.answeredAt <= thawed)
    expect(duringFreeze.length).toBeGreaterThan(0)
    expect(countBy(duringFreeze, (r) => r.status)).toEqual({ BACKEND_ERROR: duringFreeze.length })
    expect(readyDuringFreeze).toBe(503)
    expect(recoveryMs).not.toBeNull()
    expect(recoveryMs!).toBeLessThanOrEqual(RECOVERY_LIMIT_MS)
    const summary = await checkAfterwards(records, 'freeze')
    report('db-freeze', { ...summary, freezeAnswers: duringFreeze.length, recoveryMs })
  }, 120_000)

  /** Resolves once a yubival statement waits for a row lock (so the next step happens mid-statement). */
  async function waitForLockWaiter (): Promise<number> {
    for (let i = 0; i < 500; i++) {
      const rows = await query<{ pid: number }>(
        "SELECT pid FROM pg_stat_activity WHERE application_name = 'yubival' AND wait_event_type = 'Lock'")
      if (rows[0] !== undefined) return rows[0].pid
      await sleep(5)
    }
    throw new Error('no yubival statement ever waited for the lock')
  }

  it('a locked yubikeys row (slower than the statement timeout): BACKEND_ERROR, nothing committed, the OTP still works once', async () => {
    const key = inst.keys[KEYS]!
    const [first, n] = yubiotpOtps(key, [{ counter: 1, use: 0 }, { counter: 2, use: 0 }]) as [string, string]
    expect((await verify(server.url, inst.client, first)).status).toBe('OK')
    const locker = new pg.Client({ connectionString: inst.env.DATABASE_URL })
    await locker.connect()
    try {
      await locker.query('BEGIN')
      await locker.query('SELECT * FROM yubikeys WHERE yk_publicname = $1 FOR UPDATE', [key.publicId])
      const answers = await Promise.all(Array.from({ length: 4 }, async () => verify(server.url, inst.client, n, { deadlineMs: WORST_CASE_MS + 5000 })))
      expect(answers.map((a) => a.status)).toEqual(Array(4).fill('BACKEND_ERROR'))
      for (const a of answers) expect(a.ms).toBeLessThanOrEqual(WORST_CASE_MS)
      await locker.query('ROLLBACK')
    } finally {
      await locker.end()
    }
    // The timed-out statements were rolled back: the OTP is accepted now, once.
    expect((await verify(server.url, inst.client, n)).status).toBe('OK')
    expect((await verify(server.url, inst.client, n)).status).toBe('REPLAYED_OTP')
  })

  it('a verify waiting on another writer sees its outcome: REPLAYED_OTP after its commit, OK after its rollback', async () => {
    const key = inst.keys[KEYS + 1]!
    const otps = yubiotpOtps(key, [1, 5, 6, 7, 10].map((counter) => ({ counter, use: 0 })))
    expect((await verify(server.url, inst.client, otps[0]!)).status).toBe('OK')
    // Another replica is accepting counter 8 of this key right now and has not committed yet: a verify
    // of counter 5 (then 6) waits for it, and must decide on the version it ends with.
    for (const [otp, outcome, expected] of [[otps[1]!, 'ROLLBACK', 'OK'], [otps[2]!, 'COMMIT', 'REPLAYED_OTP']] as const) {
      const other = new pg.Client({ connectionString: inst.env.DATABASE_URL })
      await other.connect()
      try {
        await other.query('BEGIN')
        await other.query('UPDATE yubikeys SET yk_counter = 8, yk_use = 0 WHERE yk_publicname = $1', [key.publicId])
        const pending = verify(server.url, inst.client, otp)
        await waitForLockWaiter()
        await other.query(outcome)
        expect((await pending).status, outcome).toBe(expected)
      } finally {
        await other.end()
      }
    }
    // Counter 7 is below the committed 8: refused. Counter 10 is above: accepted.
    expect((await verify(server.url, inst.client, otps[3]!)).status).toBe('REPLAYED_OTP')
    expect((await verify(server.url, inst.client, otps[4]!)).status).toBe('OK')
  })
})
