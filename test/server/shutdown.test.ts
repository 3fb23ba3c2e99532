// SIGTERM while a verify is in flight: the server stops accepting at once, lets the request finish,
// closes the pool and exits 0; past YUBIVAL_SHUTDOWN_GRACE_MS it drops the request and exits 1.
// The request is held in flight deterministically by a PostgreSQL table lock the test owns.
import pg from 'pg'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createInstallation, type TestInstallation } from '../helpers/environment.js'
import { spawnServe, type ServeProcess } from '../helpers/serve-process.js'
import { parseResponse, randomNonce, sign } from '../helpers/wsapi-client.js'
import { yubiotpOtp } from '../helpers/yubiotp.js'

const havePg = process.env.TEST_DATABASE_URL !== undefined
if (process.env.CI !== undefined && !havePg) throw new Error('CI must set TEST_DATABASE_URL')

interface Answer { status: string, connection: string | null }

/** A signed verify that reports the WSAPI status and the Connection header, or the network error. */
async function verify (base: string, client: { id: number, key: string }, otp: string): Promise<Answer | Error> {
  const params: Record<string, string> = { id: String(client.id), otp, nonce: randomNonce() }
  params.h = sign(params, client.key)
  try {
    const res = await fetch(`${base}/wsapi/2.0/verify?${new URLSearchParams(params).toString()}`)
    return { status: parseResponse(await res.text()).status ?? `HTTP ${res.status}`, connection: res.headers.get('connection') }
  } catch (err) {
    return err as Error
  }
}

async function until (cond: () => Promise<boolean>, what: string): Promise<void> {
  const deadline = Date.now() + 30_000
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
}

describe.skipIf(!havePg)('graceful shutdown with a verify in flight', () => {
  let inst: TestInstallation
  let locker: pg.Client

  beforeAll(async () => {
    inst = await createInstallation({ keyCount: 2 })
    locker = new pg.Client({ connectionString: inst.env.DATABASE_URL })
    await locker.connect()
  })
  afterAll(async () => {
    await locker?.query('ROLLBACK').catch(() => undefined)
    await locker?.end()
    await inst?.cleanup()
  })

  /** Starts a server, locks the yubikeys table and sends a verify that waits for the lock. */
  async function verifyStuckInFlight (env: Record<string, string>, keyIndex: number): Promise<{ server: ServeProcess, pending: Promise<Answer | Error> }> {
    // A long statement timeout: the request must wait for the lock, not give up on it.
    const server = await spawnServe({ ...inst.env, YUBIVAL_DB_STATEMENT_TIMEOUT_MS: '120000', ...env })
    await locker.query('BEGIN')
    await locker.query('LOCK TABLE yubikeys IN ACCESS EXCLUSIVE MODE')
    const base = `http://127.0.0.1:${server.port}`
    const pending = verify(base, inst.client, yubiotpOtp(inst.keys[keyIndex]!, 1, 0))
    await until(async () => {
      const { rows } = await locker.query(
        "SELECT 1 FROM pg_stat_activity WHERE application_name = 'yubival' AND datname = current_database() AND wait_event_type = 'Lock'")
      return rows.length > 0
    }, 'the verify to wait on the table lock')
    return { server, pending }
  }

  it('finishes the request in flight, refuses new connections meanwhile, exits 0', async () => {
    const { server, pending } = await verifyStuckInFlight({}, 0)
    let exitCode: number | null | undefined
    void server.exited.then((code) => { exitCode = code })
    server.signal('SIGTERM')
    await server.waitForOutput('shutting down')
    const base = `http://127.0.0.1:${server.port}`
    await until(async () => fetch(`${base}/healthz`).then(() => false, () => true), 'the listener to close')
    expect(exitCode).toBeUndefined()

    await locker.query('COMMIT')
    const result = await pending
    expect(result).not.toBeInstanceOf(Error)
    // The answer closes its keep-alive connection, which would otherwise hold the shutdown open.
    expect(result).toEqual({ status: 'OK', connection: 'close' })
    expect(await server.exited).toBe(0)
    expect(server.output()).toContain('shut down cleanly')
  })

  it('drops the request and exits 1 when it outlasts YUBIVAL_SHUTDOWN_GRACE_MS', async () => {
    const { server, pending } = await verifyStuckInFlight({ YUBIVAL_SHUTDOWN_GRACE_MS: '300' }, 1)
    try {
      server.signal('SIGTERM')
      expect(await server.exited).toBe(1)
      expect(await pending).toBeInstanceOf(Error)
      expect(server.output()).toContain('requests still in flight after the shutdown grace period')
    } finally {
      await locker.query('ROLLBACK')
    }
  })
})
