// `kill -9` of yubival in the middle of a load, then a restart on the same data: every OTP that was
// answered OK must stay refused, and the stored counters must never be behind an OK. Run on PostgreSQL
// (our own cluster) and on the embedded PGlite database, whose files the killed process had open.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createInstallation, type TestInstallation } from '../helpers/environment.js'
import { startServer, type ServerProcess } from '../helpers/server-process.js'
import { startLoad, waitForRecord } from './helpers/load.js'
import { OtpStream } from './helpers/otp-stream.js'
import { createPgCluster, pgClusterAvailable, type PgCluster } from './helpers/pg-cluster.js'
import { report, size } from './helpers/scale.js'
import { countBy, verify } from './helpers/verify-client.js'

const KILLS = size('kills', 3, 20)
const KEYS = 6

const backends = pgClusterAvailable() ? ['postgresql', 'pglite'] as const : ['pglite'] as const

describe.each(backends)('kill -9 during load and restart (%s)', (backend) => {
  let cluster: PgCluster | null = null
  let inst: TestInstallation
  let server: ServerProcess | null = null
  const env = (): Record<string, string> => ({ ...inst.env, YUBIVAL_ADMIN_PORT: '0' })

  beforeAll(async () => {
    if (backend === 'postgresql') cluster = await createPgCluster()
    inst = await createInstallation({
      keyCount: KEYS,
      database: cluster !== null ? { serverUrl: cluster.adminUrl } : { backend: 'pglite' }
    })
  })
  afterAll(async () => {
    await server?.stop()
    await inst?.cleanup().catch(() => undefined)
    cluster?.destroy()
  })

  it(`${KILLS} crashes: accepted OTPs stay spent, counters never go back`, async () => {
    server = await startServer(env())
    const streams = inst.keys.map((k) => new OtpStream(k))
    const load = startLoad({ urls: () => server === null ? [] : [server.url], client: inst.client, streams, deadlineMs: 30_000 })
    const restartMs: number[] = []
    try {
      for (let kill = 0; kill < KILLS; kill++) {
        const since = Date.now()
        // Let it accept a fair number of OTPs (some are always in flight when the signal lands).
        expect(await waitForRecord(load, since, (r) => r.status === 'OK', 30_000, 30)).not.toBeNull()
        const victim = server!
        server = null
        victim.child.kill('SIGKILL')
        await new Promise((resolve) => victim.child.once('exit', resolve))
        const t0 = Date.now()
        server = await startServer(env())
        restartMs.push(Date.now() - t0)
      }
      expect(await waitForRecord(load, Date.now(), (r) => r.status === 'OK', 30_000)).not.toBeNull()
    } finally {
      await load.stop()
    }
    const records = load.records
    // Fresh OTPs get OK, or no answer at all when the process died under them; never anything else.
    for (const r of records) expect(['OK', 'NETWORK'], r.status).toContain(r.status)
    const oks = records.filter((r) => r.status === 'OK')
    for (const r of oks) expect((await verify(server.url, inst.client, r.otp)).status, 'replay after crash').toBe('REPLAYED_OTP')
    // Per key, OKs were answered in counter order, across every restart.
    for (let k = 0; k < KEYS; k++) {
      const counters = oks.filter((r) => r.key === k).sort((a, b) => a.answeredAt - b.answeredAt).map((r) => r.counter)
      expect(counters).toEqual([...counters].sort((a, b) => a - b))
    }
    report(`crash-restart-${backend}`, { kills: KILLS, statuses: countBy(records, (r) => r.status), restartMs })
  }, 60_000 + KILLS * 20_000)
})
