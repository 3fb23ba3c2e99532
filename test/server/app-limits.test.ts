// Size limits and server timeouts of the API listener, set deliberately in buildApp.
import { Writable } from 'node:stream'
import type { FastifyInstance } from 'fastify'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { buildApp } from '../../src/server/app.js'
import { createLogger } from '../../src/server/logger.js'
import type { VerifyService } from '../../src/val/verify-service.js'

const service: VerifyService = {
  verify: async (input) => ({
    status: 'NO_SUCH_CLIENT', reason: 'no_such_client', body: 'status=NO_SUCH_CLIENT\r\n\r\n', clientId: null, publicId: null,
    signed: false, protocol: input.protocol, detail: null, durationMs: 1
  })
}

describe('API listener limits', () => {
  let app: FastifyInstance
  beforeAll(async () => {
    app = buildApp({
      verifyService: service,
      logger: createLogger('silent', new Writable({ write (_c, _e, cb) { cb() } })),
      readiness: async () => ({ ready: true, checks: {} }),
      timeouts: { requestMs: 3000, keepAliveMs: 1500 }
    })
    await app.ready()
  })
  afterAll(async () => { await app?.close() })

  it('refuses a URL over 8 KiB with 414 and a body over 8 KiB with 413, but takes a normal request', async () => {
    const ok = await app.inject({ url: `/wsapi/2.0/verify?id=1&otp=${'c'.repeat(44)}` })
    expect(ok.statusCode).toBe(200)
    const longUrl = await app.inject({ url: `/wsapi/2.0/verify?id=1&pad=${'x'.repeat(8200)}` })
    expect(longUrl.statusCode).toBe(414)
    const bigBody = await app.inject({
      method: 'POST', url: '/wsapi/2.0/verify', headers: { 'content-type': 'application/x-www-form-urlencoded' }, payload: `id=1&pad=${'x'.repeat(9000)}`
    })
    expect(bigBody.statusCode).toBe(413)
  })

  it('sets the request, header and keep-alive timeouts it was given', () => {
    expect(app.server.requestTimeout).toBe(3000)
    expect(app.server.headersTimeout).toBe(3000)
    expect(app.server.keepAliveTimeout).toBe(1500)
    expect(app.server.timeout).toBe(30_000)
  })
})

it('caps the header timeout at 5 s even with a long request timeout', async () => {
  const app = buildApp({
    verifyService: service,
    logger: createLogger('silent', new Writable({ write (_c, _e, cb) { cb() } })),
    readiness: async () => ({ ready: true, checks: {} }),
    timeouts: { requestMs: 60_000, keepAliveMs: 5000 }
  })
  expect(app.server.headersTimeout).toBe(5000)
  await app.close()
})

describe('a slowloris client', () => {
  it('is cut off at the header deadline, not at the 30 s socket timeout', async () => {
    const { default: net } = await import('node:net')
    const app = buildApp({
      verifyService: service,
      logger: createLogger('silent', new Writable({ write (_c, _e, cb) { cb() } })),
      readiness: async () => ({ ready: true, checks: {} }),
      timeouts: { requestMs: 1000, keepAliveMs: 1000 }
    })
    await app.listen({ host: '127.0.0.1', port: 0 })
    try {
      const port = (app.server.address() as { port: number }).port
      const socket = net.connect(port, '127.0.0.1')
      let answer = ''
      socket.on('data', (d: Buffer) => { answer += d.toString() })
      socket.write('GET /healthz HTTP/1.1\r\nHost: x\r\n')
      // Headers never finish: Node answers 408 and closes once its sweep sees the expired deadline.
      await new Promise((resolve) => socket.on('close', resolve))
      expect(answer).toMatch(/^HTTP\/1\.1 408/)
    } finally {
      await app.close()
    }
  }, 15_000)
})
