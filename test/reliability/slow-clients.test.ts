// Slow and oversized clients against a real `yubival serve`: slowloris sockets that send one header
// byte a second, a slow body, an oversized URL, header and body. Each is cut off by the configured
// deadline or limit, and while they hang on, a normal verify still gets its OK.
import net from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createInstallation, type TestInstallation } from '../helpers/environment.js'
import { startServer, type ServerProcess } from '../helpers/server-process.js'
import { OtpStream } from './helpers/otp-stream.js'
import { report, size } from './helpers/scale.js'
import { sleep, verify } from './helpers/verify-client.js'

const REQUEST_TIMEOUT_MS = 2000
// Node checks header and request deadlines on a timer, not the instant they pass: allow that much on top.
const CHECK_SLACK_MS = 3000
const SLOW_SOCKETS = size('slowloris_sockets', 100, 1000)

interface SlowSocket {
  /** Resolves with the ms until the server closed the connection, and what it answered, if anything. */
  closed: Promise<{ ms: number, answer: string }>
  destroy: () => void
}

/** Opens a connection and trickles `head` (then `body`) one byte every `everyMs`. */
function trickle (port: number, head: string, everyMs: number, body = ''): SlowSocket {
  const started = Date.now()
  const socket = net.connect(port, '127.0.0.1')
  let answer = ''
  let i = 0
  const text = head + body
  const timer = setInterval(() => {
    if (i < text.length && socket.writable) socket.write(text[i++]!)
  }, everyMs)
  socket.on('data', (d) => { answer += d.toString() })
  socket.on('error', () => undefined)
  const closed = new Promise<{ ms: number, answer: string }>((resolve) => {
    socket.on('close', () => {
      clearInterval(timer)
      resolve({ ms: Date.now() - started, answer })
    })
  })
  return { closed, destroy: () => { clearInterval(timer); socket.destroy() } }
}

/** Sends raw bytes at once and collects the answer until the server closes or `waitMs` passes. */
async function rawRequest (port: number, data: string | Buffer, waitMs = 10_000): Promise<string> {
  const socket = net.connect(port, '127.0.0.1')
  let answer = ''
  socket.on('data', (d) => { answer += d.toString() })
  socket.on('error', () => undefined)
  socket.write(data)
  await Promise.race([new Promise((resolve) => socket.on('close', resolve)), sleep(waitMs)])
  socket.destroy()
  return answer
}

describe('slow and oversized clients', () => {
  let inst: TestInstallation
  let server: ServerProcess
  let otps: OtpStream

  beforeAll(async () => {
    inst = await createInstallation({ keyCount: 1 })
    server = await startServer({ ...inst.env, YUBIVAL_ADMIN_PORT: '0', YUBIVAL_REQUEST_TIMEOUT_MS: String(REQUEST_TIMEOUT_MS) })
    otps = new OtpStream(inst.keys[0]!)
  })
  afterAll(async () => {
    await server?.stop()
    await inst?.cleanup()
  })

  it(`${SLOW_SOCKETS} slowloris connections are dropped at the header deadline; verifies go on meanwhile`, async () => {
    const head = `GET /wsapi/2.0/verify?id=${inst.client.id} HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ${'a'.repeat(200)}\r\n\r\n`
    const slow = Array.from({ length: SLOW_SOCKETS }, () => trickle(server.port, head, 1000))
    try {
      await sleep(500)
      // During the attack: normal verifies succeed.
      const during = []
      for (let i = 0; i < 5; i++) during.push((await verify(server.url, inst.client, otps.next().otp)).status)
      expect(during).toEqual(Array(5).fill('OK'))
      const results = await Promise.all(slow.map(async (s) => s.closed))
      const worst = Math.max(...results.map((r) => r.ms))
      // Every slow socket was closed by the server (none got to send its whole head), within the deadline.
      expect(worst).toBeLessThanOrEqual(REQUEST_TIMEOUT_MS + CHECK_SLACK_MS)
      for (const r of results) expect(r.answer === '' || /^HTTP\/1\.1 408/.test(r.answer)).toBe(true)
      report('slowloris', { sockets: SLOW_SOCKETS, requestTimeoutMs: REQUEST_TIMEOUT_MS, worstCloseMs: worst })
    } finally {
      for (const s of slow) s.destroy()
    }
    expect((await verify(server.url, inst.client, otps.next().otp)).status).toBe('OK')
  }, 60_000)

  it('a body trickled slower than the request deadline is cut off', async () => {
    const body = `id=${inst.client.id}&otp=${'c'.repeat(44)}&nonce=slowbodyslowbodyslowbody`
    const head = `POST /wsapi/2.0/verify HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: ${body.length}\r\n\r\n`
    const s = trickle(server.port, head, 1, '')
    // The head arrives at once (1 ms a byte); the body then never comes.
    const r = await s.closed
    expect(r.ms).toBeLessThanOrEqual(REQUEST_TIMEOUT_MS + CHECK_SLACK_MS)
    expect((await verify(server.url, inst.client, otps.next().otp)).status).toBe('OK')
  }, 30_000)

  it('oversized URL, headers and body are refused with 4xx; the server keeps serving', async () => {
    const bigUrl = await rawRequest(server.port, `GET /wsapi/2.0/verify?id=1&otp=${'c'.repeat(20_000)} HTTP/1.1\r\nHost: x\r\n\r\n`)
    expect(bigUrl).toMatch(/^HTTP\/1\.1 (414|431|400)/)
    const midUrl = await rawRequest(server.port, `GET /wsapi/2.0/verify?id=1&otp=${'c'.repeat(9000)} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`)
    expect(midUrl).toMatch(/^HTTP\/1\.1 (414|431)/)
    const bigHeader = await rawRequest(server.port, `GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ${'b'.repeat(40_000)}\r\n\r\n`)
    expect(bigHeader).toMatch(/^HTTP\/1\.1 431/)
    const body = 'otp=' + 'c'.repeat(100_000)
    const bigBody = await rawRequest(server.port, `POST /wsapi/2.0/verify HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n${body}`)
    expect(bigBody).toMatch(/^HTTP\/1\.1 413/)
    const chunked = await rawRequest(server.port, `POST /wsapi/2.0/verify HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n${(20_000).toString(16)}\r\n${'c'.repeat(20_000)}\r\n0\r\n\r\n`)
    expect(chunked).toMatch(/^HTTP\/1\.1 413/)
    expect((await verify(server.url, inst.client, otps.next().otp)).status).toBe('OK')
    expect(server.child.exitCode).toBeNull()
  }, 60_000)
})
