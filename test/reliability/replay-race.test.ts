// Never OK twice, at scale: three `yubival serve` processes on one PostgreSQL database; every trial
// fires 16 concurrent requests carrying one OTP (a mix of shared and distinct nonces, both protocols,
// spread over the three processes). Exactly one may win; the others are REPLAYED_REQUEST when they
// carry the winner's nonce and REPLAYED_OTP otherwise. Out-of-order delivery of n and n+1 must end
// with n+1 accepted, and the stored counters must never go backwards while it happens.
// (test/integration/replay-race.test.ts is the small two-process version.)
import pg from 'pg'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createInstallation, type TestInstallation } from '../helpers/environment.js'
import { startServer, type ServerProcess } from '../helpers/server-process.js'
import { randomNonce, responseSignatureOk } from '../helpers/wsapi-client.js'
import { yubiotpOtps } from '../helpers/yubiotp.js'
import { OtpStream } from './helpers/otp-stream.js'
import { report, size, timeoutFor } from './helpers/scale.js'
import { countBy, V1, V2, verify, type Answer } from './helpers/verify-client.js'

const pgUrl = process.env.TEST_DATABASE_URL
if (process.env.CI !== undefined && pgUrl === undefined) throw new Error('CI must set TEST_DATABASE_URL')

const SERVERS = 3
const FAN_OUT = 16
const TRIALS = size('race_trials', 200, 10_000)
const WORKERS = 4 // trials in flight at once, each on its own keys
const PAIR_TRIALS = size('race_pairs', 60, 2_000)

/** Which nonce request i of a trial carries: all one nonce, all different, or a mix. */
function nonceFor (trial: number, i: number, shared: string): string {
  switch (trial % 3) {
    case 0: return shared
    case 1: return randomNonce()
    default: return i % 2 === 0 ? shared : randomNonce()
  }
}

describe.skipIf(pgUrl === undefined)('replay races across three server processes on one PostgreSQL database', () => {
  let inst: TestInstallation
  let servers: ServerProcess[]
  let streams: OtpStream[]
  let db: pg.Client

  beforeAll(async () => {
    inst = await createInstallation({ keyCount: WORKERS * 2 + 1 })
    const env = { ...inst.env, YUBIVAL_ADMIN_PORT: '0' }
    servers = await Promise.all(Array.from({ length: SERVERS }, async () => startServer(env)))
    streams = inst.keys.map((k) => new OtpStream(k))
    db = new pg.Client({ connectionString: inst.env.DATABASE_URL })
    await db.connect()
  })
  afterAll(async () => {
    await db?.end()
    await Promise.all((servers ?? []).map(async (s) => s.stop()))
    await inst?.cleanup()
  })

  async function storedCounters (publicId: string): Promise<{ counter: number, use: number, nonce: string } | null> {
    const { rows } = await db.query<{ yk_counter: number, yk_use: number, nonce: string }>(
      'SELECT yk_counter, yk_use, nonce FROM yubikeys WHERE yk_publicname = $1', [publicId])
    const r = rows[0]
    return r === undefined ? null : { counter: r.yk_counter, use: r.yk_use, nonce: r.nonce }
  }

  it(`exactly one OK in each of ${TRIALS} trials of ${FAN_OUT} concurrent requests with one OTP`, async () => {
    const started = performance.now()
    const latencies: number[] = []
    const statuses: Record<string, number> = {}
    const failures: string[] = []
    let trialsDone = 0
    const lastAccepted = new Map<number, { counter: number, nonce: string | null }>()

    async function worker (w: number): Promise<void> {
      // Worker w owns keys w and w + WORKERS: no other trial touches them while it runs.
      for (let trial = w; trial < TRIALS; trial += WORKERS) {
        const keyIndex = Math.floor(trial / WORKERS) % 2 === 0 ? w : w + WORKERS
        const { otp, counter } = streams[keyIndex]!.next()
        const shared = randomNonce()
        const answers: Answer[] = await Promise.all(Array.from({ length: FAN_OUT }, async (_, i) => {
          const server = servers[(i + trial) % SERVERS]!
          // Every 4th trial sends two of its requests as protocol 1.0 (no nonce: always REPLAYED_OTP if late).
          const path = trial % 4 === 3 && i < 2 ? V1 : V2
          return verify(server.url, inst.client, otp, { path, nonce: nonceFor(trial, i, shared) })
        }))
        for (const a of answers) {
          statuses[a.status] = (statuses[a.status] ?? 0) + 1
          latencies.push(a.ms)
        }
        const winners = answers.filter((a) => a.status === 'OK')
        if (winners.length !== 1) {
          failures.push(`trial ${trial}: ${winners.length} OK (${JSON.stringify(countBy(answers, (a) => a.status))})`)
          continue
        }
        const winner = winners[0]!
        for (const a of answers) {
          if (a === winner) continue
          // Same OTP and same nonce as the accepted request is the same request; anything else a replay.
          const expected = a.nonce !== null && winner.nonce !== null && a.nonce === winner.nonce ? 'REPLAYED_REQUEST' : 'REPLAYED_OTP'
          if (a.status !== expected) failures.push(`trial ${trial}: ${a.status}, expected ${expected}`)
          if (!responseSignatureOk(a.fields, inst.client.key)) failures.push(`trial ${trial}: bad response signature`)
          if (a.nonce !== null && (a.fields.otp !== otp || a.fields.nonce !== a.nonce)) failures.push(`trial ${trial}: echo mismatch`)
        }
        if (!responseSignatureOk(winner.fields, inst.client.key)) failures.push(`trial ${trial}: bad OK signature`)
        lastAccepted.set(keyIndex, { counter, nonce: winner.nonce })
        trialsDone++
      }
    }
    await Promise.all(Array.from({ length: WORKERS }, async (_, w) => worker(w)))
    const seconds = (performance.now() - started) / 1000

    expect(failures.slice(0, 20)).toEqual([])
    expect(trialsDone).toBe(TRIALS)
    // The stored row of every key holds exactly its last accepted OTP (and, for 2.0, the winner's nonce).
    for (const [keyIndex, last] of lastAccepted) {
      const stored = await storedCounters(inst.keys[keyIndex]!.publicId)
      expect(stored?.counter).toBe(last.counter)
      if (last.nonce !== null) expect(stored?.nonce).toBe(last.nonce)
    }
    latencies.sort((a, b) => a - b)
    const at = (q: number): number => Number((latencies[Math.floor(q * (latencies.length - 1))] ?? 0).toFixed(1))
    report('replay-race', {
      trials: TRIALS, requests: TRIALS * FAN_OUT, servers: SERVERS, seconds: Number(seconds.toFixed(1)),
      requestsPerSecond: Math.round(TRIALS * FAN_OUT / seconds), statuses, latencyMs: { p50: at(0.5), p99: at(0.99), max: at(1) }
    })
  }, timeoutFor(TRIALS, 60))

  it(`out-of-order delivery of n and n+1 (${PAIR_TRIALS} races): n+1 wins, n only if first, counters never go back`, async () => {
    const key = inst.keys[WORKERS * 2]!
    // A watcher reads the row as fast as it can while the races run: it must only ever move forward.
    let watching = true
    const backwards: string[] = []
    let reads = 0
    const watcher = (async () => {
      let last: [number, number] = [-1, -1]
      while (watching) {
        const row = await storedCounters(key.publicId)
        reads++
        if (row === null) continue
        const now: [number, number] = [row.counter, row.use]
        if (now[0] < last[0] || (now[0] === last[0] && now[1] < last[1])) backwards.push(`${last.join('/')} → ${now.join('/')}`)
        last = now
      }
    })()

    // Half the pairs step the counter (a new power-up), half the session use (the same power-up).
    const specs = Array.from({ length: PAIR_TRIALS }, (_, t) => t % 2 === 0
      ? [{ counter: 10 + t * 2, use: 0 }, { counter: 11 + t * 2, use: 0 }]
      : [{ counter: 10 + t * 2, use: 3 }, { counter: 10 + t * 2, use: 4 }]).flat()
    const otps = yubiotpOtps(key, specs)
    const outcomes: Record<string, number> = {}
    const failures: string[] = []
    for (let t = 0; t < PAIR_TRIALS; t++) {
      const n = otps[2 * t]!
      const n1 = otps[2 * t + 1]!
      const [a, b] = [servers[t % SERVERS]!, servers[(t + 1) % SERVERS]!]
      let rn: Answer
      let rn1: Answer
      switch (t % 3) {
        case 0: // n strictly first: both accepted
          rn = await verify(a.url, inst.client, n)
          rn1 = await verify(b.url, inst.client, n1)
          if (rn.status !== 'OK') failures.push(`pair ${t}: n first was ${rn.status}`)
          break
        case 1: // n+1 strictly first: n is now a replay
          rn1 = await verify(b.url, inst.client, n1)
          rn = await verify(a.url, inst.client, n)
          if (rn.status !== 'REPLAYED_OTP') failures.push(`pair ${t}: n after n+1 was ${rn.status}`)
          break
        default: // a real race: n may win only by arriving first
          [rn, rn1] = await Promise.all([verify(a.url, inst.client, n), verify(b.url, inst.client, n1)])
      }
      outcomes[`n=${rn.status} n+1=${rn1.status}`] = (outcomes[`n=${rn.status} n+1=${rn1.status}`] ?? 0) + 1
      if (rn1.status !== 'OK') failures.push(`pair ${t}: n+1 was ${rn1.status}`)
      if (!['OK', 'REPLAYED_OTP'].includes(rn.status)) failures.push(`pair ${t}: n was ${rn.status}`)
      const stored = await storedCounters(key.publicId)
      const want = specs[2 * t + 1]!
      if (stored?.counter !== want.counter || stored.use !== want.use) failures.push(`pair ${t}: stored ${JSON.stringify(stored)}, want ${JSON.stringify(want)}`)
      // Whatever the order, both are spent now.
      for (const otp of [n, n1]) {
        const again = await verify(servers[t % SERVERS]!.url, inst.client, otp)
        if (again.status !== 'REPLAYED_OTP') failures.push(`pair ${t}: replay was ${again.status}`)
      }
    }
    watching = false
    await watcher
    expect(failures.slice(0, 20)).toEqual([])
    expect(backwards).toEqual([])
    expect(reads).toBeGreaterThan(PAIR_TRIALS)
    report('out-of-order', { pairs: PAIR_TRIALS, outcomes, rowReads: reads })
  }, timeoutFor(PAIR_TRIALS, 100))
})
