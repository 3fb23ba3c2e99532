// A real `yubival serve` with a sync pool whose only peer is down: verify says NOT_ENOUGH_ANSWERS, the
// message waits in the queue, and /metrics shows it (requests by result, queue length and age, failing).
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createInstallation, type TestInstallation } from '../helpers/environment.js'
import { freePort, spawnServe, type ServeProcess } from '../helpers/serve-process.js'
import { verifyOtp } from '../helpers/wsapi-client.js'
import { yubiotpOtp } from '../helpers/yubiotp.js'
import { parseMetrics } from '../helpers/metrics.js'


describe('sync pool metrics', () => {
  let inst: TestInstallation
  let server: ServeProcess
  let peerPort: number

  beforeAll(async () => {
    inst = await createInstallation()
    peerPort = await freePort()
    server = await spawnServe({
      ...inst.env,
      YUBIVAL_ADMIN_PORT: String(await freePort()),
      YUBIVAL_SYNC_POOL: `http://127.0.0.1:${peerPort}/wsapi/2.0/sync`,
      YUBIVAL_SYNC_INTERVAL_MS: '100'
    })
  })
  afterAll(async () => {
    const code = await server?.stop()
    await inst?.cleanup()
    expect(code).toBe(0)
  })

  it('a down peer: NOT_ENOUGH_ANSWERS, a queued message, failed requests and the queue in /metrics', async () => {
    const peer = `peer="http://127.0.0.1:${peerPort}"`
    const scrape = async () => parseMetrics(await (await fetch(`http://127.0.0.1:${server.adminPort}/metrics`)).text())
    const before = await scrape()
    expect(before.get(`yubival_sync_queue_length{${peer}}`)).toBe(0)
    expect(before.get(`yubival_sync_requests_total{${peer},result="ok"}`)).toBe(0)
    const r = await verifyOtp(`http://127.0.0.1:${server.port}`, inst.client, yubiotpOtp(inst.keys[0]!, 1, 0))
    expect([r.status, r.fields.sl]).toEqual(['NOT_ENOUGH_ANSWERS', '0'])
    let m = await scrape()
    for (let i = 0; i < 100 && (m.get(`yubival_sync_queue_failing{${peer}}`) ?? 0) < 1; i++) {
      await new Promise((resolve) => setTimeout(resolve, 100))
      m = await scrape()
    }
    expect(m.get(`verify_total{status="NOT_ENOUGH_ANSWERS",reason="not_enough_answers"}`)).toBe(1)
    expect(m.get(`yubival_sync_queue_length{${peer}}`)).toBe(1)
    expect(m.get(`yubival_sync_queue_failing{${peer}}`)).toBe(1)
    expect(m.get(`yubival_sync_requests_total{${peer},result="failed"}`)).toBeGreaterThanOrEqual(2)
    expect(m.get(`yubival_sync_queue_oldest_seconds{${peer}}`)).toBeGreaterThanOrEqual(0)
    // the log is written in batches: wait for it
    for (let i = 0; i < 50 && !server.output().includes('will retry'); i++) await new Promise((resolve) => setTimeout(resolve, 100))
    expect(server.output()).toContain('"msg":"sync pool: worker started"')
    expect(server.output()).toContain('sync: message not delivered; will retry')
  })
})
