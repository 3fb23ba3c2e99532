// Rate limits on the verify routes: per source address and per client id, loopback exempt by default,
// X-Forwarded-For believed only from YUBIVAL_TRUSTED_PROXIES; health probes never limited.
import { Writable } from 'node:stream'
import type { FastifyInstance } from 'fastify'
import { afterEach, describe, expect, it } from 'vitest'
import { buildApp } from '../../src/server/app.js'
import { createLogger } from '../../src/server/logger.js'
import { createMetrics, type Metrics } from '../../src/server/metrics.js'
import type { RateLimitSettings } from '../../src/server/rate-limit.js'
import type { VerifyService } from '../../src/val/verify-service.js'

// The limits sit in front of the verify service, so any answer will do.
const okService: VerifyService = {
  verify: async (input) => ({
    status: 'OK', reason: 'ok', body: 'status=OK\r\n\r\n', clientId: null, publicId: null, signed: false,
    protocol: input.protocol, detail: null, durationMs: 1
  })
}

let app: FastifyInstance | undefined
let logText = ''
let metrics: Metrics
afterEach(async () => { await app?.close() })

async function makeApp (limits: Partial<RateLimitSettings>, trustedProxies: string[] = []): Promise<FastifyInstance> {
  logText = ''
  metrics = createMetrics({ defaultMetrics: false })
  const sink = new Writable({ write (chunk, _enc, cb) { logText += String(chunk); cb() } })
  app = buildApp({
    verifyService: okService,
    logger: createLogger('info', sink),
    readiness: async () => ({ ready: true, checks: {} }),
    metrics,
    rateLimit: { windowMs: 60_000, perIp: 0, perClient: 0, loopback: false, ...limits },
    trustedProxies
  })
  await app.ready()
  return app
}

async function verify (opts: { ip?: string, id?: string, xff?: string, post?: boolean } = {}): Promise<{ status: number, retryAfter?: string, body: string }> {
  const query = `id=${opts.id ?? '1'}&otp=x&nonce=0123456789abcdef`
  const res = await app!.inject({
    method: opts.post === true ? 'POST' : 'GET',
    url: opts.post === true ? '/wsapi/2.0/verify' : `/wsapi/2.0/verify?${query}`,
    remoteAddress: opts.ip ?? '192.0.2.10',
    headers: {
      ...(opts.xff !== undefined ? { 'x-forwarded-for': opts.xff } : {}),
      ...(opts.post === true ? { 'content-type': 'application/x-www-form-urlencoded' } : {})
    },
    ...(opts.post === true ? { payload: query } : {})
  })
  const retryAfter = res.headers['retry-after']
  return { status: res.statusCode, body: res.body, ...(retryAfter !== undefined ? { retryAfter: String(retryAfter) } : {}) }
}

async function statuses (n: number, opts: Parameters<typeof verify>[0]): Promise<number[]> {
  const out: number[] = []
  for (let i = 0; i < n; i++) out.push((await verify(opts)).status)
  return out
}

describe('per source address', () => {
  it('answers 429 with Retry-After after the limit, per address, and counts it', async () => {
    await makeApp({ perIp: 3, windowMs: 30_000 })
    expect(await statuses(3, { ip: '192.0.2.10' })).toEqual([200, 200, 200])
    const limited = await verify({ ip: '192.0.2.10' })
    expect(limited.status).toBe(429)
    expect(Number(limited.retryAfter)).toBeGreaterThanOrEqual(1)
    expect(Number(limited.retryAfter)).toBeLessThanOrEqual(30)
    expect(limited.body).toContain('too many requests (per address limit)')
    expect((await verify({ ip: '192.0.2.11' })).status).toBe(200)
    expect(await metrics.render()).toContain('yubival_rate_limited_total{limit="ip"} 1')
    expect(logText).toContain('rate limit reached')
  })

  it('logs the first refusal per window only', async () => {
    await makeApp({ perIp: 1 })
    await statuses(5, { ip: '192.0.2.20' })
    expect(logText.match(/rate limit reached/g)).toHaveLength(1)
    expect(await metrics.render()).toContain('yubival_rate_limited_total{limit="ip"} 4')
  })

  it('never limits the health probes', async () => {
    await makeApp({ perIp: 1, perClient: 1, loopback: true })
    for (let i = 0; i < 5; i++) {
      for (const url of ['/healthz', '/readyz']) {
        expect((await app!.inject({ url, remoteAddress: '192.0.2.30' })).statusCode).toBe(200)
      }
    }
  })
})

describe('loopback callers', () => {
  it('are exempt by default', async () => {
    await makeApp({ perIp: 1, perClient: 1 })
    expect(await statuses(4, { ip: '127.0.0.1' })).toEqual([200, 200, 200, 200])
    expect(await statuses(2, { ip: '::1' })).toEqual([200, 200])
  })

  it('are limited with YUBIVAL_RATE_LIMIT_LOOPBACK=true', async () => {
    await makeApp({ perIp: 2, loopback: true })
    expect(await statuses(3, { ip: '127.0.0.1' })).toEqual([200, 200, 429])
  })

  it('are not exempt when they are a proxy speaking for someone (X-Forwarded-For)', async () => {
    await makeApp({ perIp: 2 })
    expect(await statuses(3, { ip: '127.0.0.1', xff: '198.51.100.7' })).toEqual([200, 200, 429])
  })
})

describe('X-Forwarded-For', () => {
  it('is ignored from peers that are not trusted proxies: everyone shares the peer address', async () => {
    await makeApp({ perIp: 2 })
    expect((await verify({ ip: '192.0.2.50', xff: '198.51.100.1' })).status).toBe(200)
    expect((await verify({ ip: '192.0.2.50', xff: '198.51.100.2' })).status).toBe(200)
    expect((await verify({ ip: '192.0.2.50', xff: '198.51.100.3' })).status).toBe(429)
  })

  it('from a trusted proxy gives every client address its own budget', async () => {
    await makeApp({ perIp: 2 }, ['192.0.2.50'])
    expect(await statuses(3, { ip: '192.0.2.50', xff: '198.51.100.1' })).toEqual([200, 200, 429])
    expect(await statuses(2, { ip: '192.0.2.50', xff: '198.51.100.2' })).toEqual([200, 200])
    // A client cannot escape by forging the header when it is not the trusted proxy.
    expect(await statuses(3, { ip: '192.0.2.60', xff: '198.51.100.9' })).toEqual([200, 200, 429])
  })
})

describe('per client id', () => {
  it('limits one client id across addresses, from the query or a form body', async () => {
    await makeApp({ perClient: 3 })
    expect((await verify({ id: '7', ip: '192.0.2.1' })).status).toBe(200)
    expect((await verify({ id: '007', ip: '192.0.2.2' })).status).toBe(200)
    expect((await verify({ id: '7', ip: '192.0.2.3', post: true })).status).toBe(200)
    const limited = await verify({ id: '7', ip: '192.0.2.4' })
    expect(limited.status).toBe(429)
    expect(limited.body).toContain('per client id')
    expect(Number(limited.retryAfter)).toBeGreaterThanOrEqual(1)
    expect((await verify({ id: '8', ip: '192.0.2.4' })).status).toBe(200)
    expect(await metrics.render()).toContain('yubival_rate_limited_total{limit="client"} 1')
  })

  it('does not count requests without a usable client id (they never reach the database)', async () => {
    await makeApp({ perClient: 1 })
    expect(await statuses(3, { id: 'abc' })).toEqual([200, 200, 200])
  })
})

it('is off with both limits at 0', async () => {
  await makeApp({})
  expect(await statuses(20, { ip: '192.0.2.99' })).toEqual(Array(20).fill(200))
})
