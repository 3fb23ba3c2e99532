// /metrics on the admin listener of a real `yubival serve`: the counters and histograms move with real
// verifies (OTPs from python3-yubiotp, keys imported with our own `keys import`).
import { randomBytes } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createInstallation, randomSoftKey, type TestInstallation } from '../helpers/environment.js'
import { freePort, spawnServe, type ServeProcess } from '../helpers/serve-process.js'
import { randomNonce, verifyOtp } from '../helpers/wsapi-client.js'
import { yubiotpOtp } from '../helpers/yubiotp.js'
import { parseMetrics } from '../helpers/metrics.js'


describe('Prometheus metrics', () => {
  let inst: TestInstallation
  let server: ServeProcess
  let base: string
  let metricsUrl: string

  beforeAll(async () => {
    inst = await createInstallation()
    server = await spawnServe({ ...inst.env, YUBIVAL_ADMIN_PORT: String(await freePort()) })
    base = `http://127.0.0.1:${server.port}`
    metricsUrl = `http://127.0.0.1:${server.adminPort}/metrics`
  })
  afterAll(async () => {
    const code = await server?.stop()
    await inst?.cleanup()
    expect(code).toBe(0)
  })

  async function scrape (): Promise<Map<string, number>> {
    const res = await fetch(metricsUrl)
    expect(res.status).toBe(200)
    expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/)
    return parseMetrics(await res.text())
  }

  it('are served on the admin listener only', async () => {
    expect(server.output()).toContain(`"admin":"127.0.0.1:${server.adminPort}"`)
    expect((await fetch(`${base}/metrics`)).status).toBe(404)
  })

  it('start with zero series for every outcome, plus the process metrics', async () => {
    const m = await scrape()
    expect(m.get('verify_total{status="OK",reason="ok"}')).toBe(0)
    expect(m.get('verify_total{status="BAD_OTP",reason="unknown_key"}')).toBe(0)
    expect(m.get('yubival_ksm_decrypt_failures_total{reason="aead_auth_failed"}')).toBe(0)
    expect(m.get('yubival_replays_total{kind="otp"}')).toBe(0)
    expect(m.has('process_cpu_seconds_total')).toBe(true)
    expect(m.has('nodejs_eventloop_lag_seconds')).toBe(true)
    if (inst.env.DATABASE_URL !== undefined) {
      expect(m.get('yubival_db_pool_max_connections')).toBe(10)
      expect(m.has('yubival_db_pool_idle_connections')).toBe(true)
      expect(m.get('yubival_db_pool_waiting_requests')).toBe(0)
    }
  })

  it('move with verifies: status and reason, latency, KSM failures, replays, database statements', async () => {
    const before = await scrape()
    const otp = yubiotpOtp(inst.keys[0]!, 1, 0)
    const nonce = randomNonce()
    expect((await verifyOtp(base, inst.client, otp, { nonce })).status).toBe('OK')
    expect((await verifyOtp(base, inst.client, otp, { nonce })).status).toBe('REPLAYED_REQUEST')
    expect((await verifyOtp(base, inst.client, otp)).status).toBe('REPLAYED_OTP')
    expect((await verifyOtp(base, inst.client, yubiotpOtp(randomSoftKey(), 1, 0))).status).toBe('BAD_OTP')
    const wrongKey = { id: inst.client.id, key: randomBytes(20).toString('base64') }
    expect((await verifyOtp(base, wrongKey, yubiotpOtp(inst.keys[0]!, 1, 1))).status).toBe('BAD_SIGNATURE')
    const after = await scrape()
    const delta = (name: string): number => (after.get(name) ?? 0) - (before.get(name) ?? 0)

    expect(delta('verify_total{status="OK",reason="ok"}')).toBe(1)
    expect(delta('verify_total{status="REPLAYED_REQUEST",reason="replayed_request"}')).toBe(1)
    expect(delta('verify_total{status="REPLAYED_OTP",reason="replayed_otp"}')).toBe(1)
    expect(delta('verify_total{status="BAD_OTP",reason="unknown_key"}')).toBe(1)
    expect(delta('verify_total{status="BAD_SIGNATURE",reason="bad_signature"}')).toBe(1)
    expect(delta('yubival_ksm_decrypt_failures_total{reason="unknown_key"}')).toBe(1)
    expect(delta('yubival_replays_total{kind="otp"}')).toBe(1)
    expect(delta('yubival_replays_total{kind="request"}')).toBe(1)
    expect(delta('yubival_verify_duration_seconds_count{status="OK"}')).toBe(1)
    expect(delta('yubival_verify_duration_seconds_count{status="REPLAYED_OTP"}')).toBe(1)
    expect(delta('yubival_verify_duration_seconds_bucket{le="+Inf",status="OK"}')).toBe(1)
    expect(delta('yubival_verify_duration_seconds_sum{status="OK"}')).toBeGreaterThan(0)
    // One accept statement per decrypted OTP (OK and both replays), and at least one client lookup.
    const dbCounts = [...after.keys()].filter((k) => k.startsWith('yubival_db_query_duration_seconds_count'))
    expect(dbCounts.reduce((sum, k) => sum + delta(k), 0)).toBeGreaterThanOrEqual(4)
    expect(delta('yubival_db_query_duration_seconds_count{operation="yubival_get_client"}')).toBeGreaterThanOrEqual(1)
  })
})
