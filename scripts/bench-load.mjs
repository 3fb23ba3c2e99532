// The benchmark's load generator, forked by scripts/bench.mjs so it never shares a process (or an
// event loop) with the server or with the orchestrator. One message in, one result out:
//   { cmd: 'prepare', keysCsv, client, signed, startIndex, precompute }
//     → makes the first `precompute` requests of the next HTTP run (OTP + HMAC ~15 µs each), before the clock;
//   { cmd: 'http', url, connections, duration }
//     → autocannon against a running `yubival serve`, walking the prepared OTP stream;
//   { cmd: 'ceiling', databaseUrl, publicIds, connections, poolSize, duration, startIndex }
//     → the accept statement of one verify, straight through pg (no HTTP, no crypto).
import autocannon from 'autocannon'
import { PgDatabase } from '../dist/db/pg-database.js'
import { YubikeysRepository } from '../dist/db/yubikeys-repository.js'
import { countersAt, nonceAt, readKeysCsv, verifyPath } from './bench-otps.mjs'
import { pidsCpuDelta, pidsCpuMs } from './bench-proc.mjs'

let keysCache = null
function keysFrom (file) {
  if (keysCache?.file !== file) keysCache = { file, keys: readKeysCsv(file) }
  return keysCache.keys
}

/** Latencies in ms with µs resolution (autocannon's own histogram rounds to whole ms). */
function summarise (latencies, n) {
  const sorted = latencies.subarray(0, n).sort()
  const at = (q) => n === 0 ? null : sorted[Math.min(n - 1, Math.ceil(q * n) - 1)]
  let sum = 0
  for (let i = 0; i < n; i++) sum += sorted[i]
  const r = (v) => v === null ? null : Math.round(v * 1000) / 1000
  return { mean: r(n === 0 ? null : sum / n), p50: r(at(0.5)), p90: r(at(0.9)), p99: r(at(0.99)), max: r(n === 0 ? null : sorted[n - 1]) }
}

function cpuMs (usage) {
  return (usage.user + usage.system) / 1000
}

let prepared = null

async function prepare (m) {
  const keys = keysFrom(m.keysCsv)
  const client = { id: m.client.id, secret: Buffer.from(m.client.key, 'base64') }
  const pre = new Array(m.precompute)
  for (let j = 0; j < m.precompute; j++) pre[j] = verifyPath(keys, m.startIndex + j, client, m.signed)
  prepared = { keys, client, pre, signed: m.signed, startIndex: m.startIndex }
  return { precomputed: pre.length }
}

async function http (m) {
  if (prepared === null) throw new Error('http without prepare')
  const { keys, client, pre, signed, startIndex } = prepared
  prepared = null
  let next = 0
  const statuses = {}
  let latencies = new Float64Array(1 << 16)
  let count = 0
  const cpu0 = process.cpuUsage()
  const instance = autocannon({
    url: m.url,
    connections: m.connections,
    duration: m.duration,
    requests: [{
      setupRequest: (req) => {
        const j = next++
        req.path = j < pre.length ? pre[j] : verifyPath(keys, startIndex + j, client, signed)
        return req
      },
      onResponse: (status, body) => {
        const s = body.indexOf('status=')
        const name = s < 0 ? `HTTP_${status}` : body.slice(s + 7, body.indexOf('\r\n', s))
        statuses[name] = (statuses[name] ?? 0) + 1
      }
    }]
  })
  instance.on('response', (_client, _status, _bytes, ms) => {
    if (count === latencies.length) {
      const bigger = new Float64Array(latencies.length * 2)
      bigger.set(latencies)
      latencies = bigger
    }
    latencies[count++] = ms
  })
  const result = await instance
  const cpu = cpuMs(process.cpuUsage(cpu0))
  return {
    nextIndex: startIndex + next,
    seconds: result.duration,
    responses: count,
    statuses,
    errors: result.errors,
    timeouts: result.timeouts,
    non2xx: result.non2xx,
    latencyMs: summarise(latencies, count),
    precomputed: pre.length,
    generatedLive: Math.max(0, next - pre.length),
    loadgenCpuMs: cpu
  }
}

async function ceiling (m) {
  const db = PgDatabase.open(m.databaseUrl, { poolSize: m.poolSize, statementTimeoutMs: 5000 })
  const repo = new YubikeysRepository(db)
  const ids = m.publicIds
  let next = m.startIndex
  let accepted = 0
  let refused = 0
  const latencies = new Float64Array(1 << 22)
  let count = 0
  try {
    // open every connection and prepare the statement before the clock starts, as a warmed server has
    await Promise.all(Array.from({ length: m.poolSize }, async () => db.query('SELECT 1')))
    // PostgreSQL's side of the cost: CPU of this database's yubival backends (the server's are idle now)
    const { rows } = await db.query("SELECT pid FROM pg_stat_activity WHERE application_name = 'yubival' AND datname = current_database()")
    const backends = rows.map((r) => r.pid)
    const pg0 = pidsCpuMs(backends)
    const cpu0 = process.cpuUsage()
    const t0 = performance.now()
    const until = t0 + m.duration * 1000
    const worker = async () => {
      while (performance.now() < until) {
        const i = next++
        const { keyIndex, counter, use, low } = countersAt(i, ids.length)
        const started = performance.now()
        const r = await repo.accept({
          publicId: ids[keyIndex], counter, use, low, high: 0, nonce: nonceAt(i), now: Math.floor(Date.now() / 1000)
        })
        if (count < latencies.length) latencies[count++] = performance.now() - started
        if (r.accepted) accepted++
        else refused++
      }
    }
    await Promise.all(Array.from({ length: m.connections }, worker))
    const seconds = (performance.now() - t0) / 1000
    const pgCpuMs = pidsCpuDelta(pg0, pidsCpuMs(backends))
    return {
      pgCpuMs,
      nextIndex: next,
      seconds,
      accepted,
      refused,
      latencyMs: summarise(latencies, count),
      loadgenCpuMs: cpuMs(process.cpuUsage(cpu0))
    }
  } finally {
    await db.close()
  }
}

process.on('message', (m) => {
  if (m.cmd === 'exit') process.exit(0)
  const run = { prepare, http, ceiling }[m.cmd]
  run(m).then((result) => process.send({ ok: true, result }), (err) => process.send({ ok: false, error: err.stack ?? String(err) }))
})
