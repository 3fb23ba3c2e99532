#!/usr/bin/env node
// The reliability suite at full size, plus an optional soak. Run through `npm run stress` (which builds
// first): the tests in test/reliability run with RELIABILITY_SCALE=stress and write their numbers to a
// report that is printed at the end.
//
//   npm run stress                      # big sizes: 10,000 race trials, 100,000 fuzz cases, 20 crashes, ...
//   npm run stress -- --quick           # the CI sizes (a smoke run of the script itself)
//   npm run stress -- --soak            # then a 10-minute load at ~80 % of the measured peak
//   npm run stress -- --soak-only --soak-minutes 2
//   npm run stress -- --only fuzz       # only test files whose name contains "fuzz"
//
// PostgreSQL: TEST_DATABASE_URL (default postgres://postgres@127.0.0.1:5432/postgres). The fault tests
// start a throwaway cluster of their own. All traffic stays on 127.0.0.1.
import { spawn, spawnSync } from 'node:child_process'
import { createHmac, randomBytes } from 'node:crypto'
import { once } from 'node:events'
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'
import autocannon from 'autocannon'
import pg from 'pg'
import { encodeOtp } from '../dist/otp/index.js'

const ROOT = path.resolve(import.meta.dirname, '..')
const BIN = path.join(ROOT, 'bin', 'yubival')
const args = process.argv.slice(2)
const flag = (name) => args.includes(name)
const value = (name, def) => {
  const i = args.indexOf(name)
  return i >= 0 && args[i + 1] !== undefined ? args[i + 1] : def
}
const DB = process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres'
const log = (...a) => console.log(...a)

// ---- the reliability suite at stress sizes ---------------------------------------------------------

function runSuite () {
  const report = path.join(mkdtempSync(path.join(os.tmpdir(), 'yubival-stress-')), 'report.jsonl')
  const env = { ...process.env, TEST_DATABASE_URL: DB, RELIABILITY_REPORT: report }
  if (!flag('--quick')) env.RELIABILITY_SCALE = 'stress'
  const only = value('--only', null)
  const target = only === null ? 'test/reliability' : `test/reliability/${only}`
  log(`== reliability suite (${flag('--quick') ? 'CI sizes' : 'stress sizes'}): vitest run ${target}`)
  const started = Date.now()
  // One file at a time: the fault tests time recoveries, which other files' load would only blur.
  const r = spawnSync(process.execPath, [path.join(ROOT, 'node_modules', 'vitest', 'vitest.mjs'), 'run', target, '--maxWorkers=1',
    '--testTimeout=3600000', '--hookTimeout=600000'], { cwd: ROOT, env, stdio: 'inherit' })
  log(`\n== suite finished in ${((Date.now() - started) / 1000).toFixed(0)} s, exit ${r.status}`)
  if (existsSync(report)) {
    log('== numbers')
    for (const line of readFileSync(report, 'utf8').trim().split('\n')) {
      const { name, ...rest } = JSON.parse(line)
      log(`  ${name.padEnd(26)} ${JSON.stringify(rest)}`)
    }
    rmSync(path.dirname(report), { recursive: true, force: true })
  }
  return r.status ?? 1
}

// ---- soak ----------------------------------------------------------------------------------------------

async function freePort () {
  const srv = net.createServer().listen(0, '127.0.0.1')
  await once(srv, 'listening')
  const { port } = srv.address()
  srv.close()
  await once(srv, 'close')
  return port
}

function cli (argv, env) {
  const r = spawnSync(process.execPath, [BIN, ...argv], { env, encoding: 'utf8' })
  if (r.status !== 0) throw new Error(`yubival ${argv.join(' ')}: ${r.stderr}`)
  return r.stdout
}

function rssMb (pid) {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
  return m === null ? null : Math.round(Number(m[1]) / 102.4) / 10
}

/** Request i uses key i mod K: a key's next OTP is sent ~K requests later, long after its previous one. */
function otpStream (keys, client) {
  let i = 0
  return () => {
    const k = keys[i % keys.length]
    const pass = Math.floor(i / keys.length)
    const otp = encodeOtp({ ...k, counter: 1 + Math.floor(pass / 256), sessionUse: pass % 256, timestampLow: pass & 0xffff, timestampHigh: 0 })
    const nonce = `soak${(i++).toString(36).padStart(12, '0')}`
    const h = createHmac('sha1', client.secret).update(`id=${client.id}&nonce=${nonce}&otp=${otp}`).digest('base64')
    return `/wsapi/2.0/verify?id=${client.id}&otp=${otp}&nonce=${nonce}&h=${encodeURIComponent(h)}`
  }
}

async function load (url, next, opts) {
  const statuses = {}
  const result = await autocannon({
    url,
    connections: opts.connections,
    duration: opts.seconds,
    ...(opts.rate ? { overallRate: opts.rate } : {}),
    requests: [{
      setupRequest: (req) => ({ ...req, path: next() }),
      onResponse: (status, body) => {
        const s = body.indexOf('status=')
        const name = s < 0 ? `HTTP_${status}` : body.slice(s + 7, body.indexOf('\r\n', s))
        statuses[name] = (statuses[name] ?? 0) + 1
      }
    }]
  })
  return { statuses, rps: result.requests.average, errors: result.errors, timeouts: result.timeouts, non2xx: result.non2xx, p99: result.latency.p99 }
}

async function soak () {
  const minutes = Number(value('--soak-minutes', '10'))
  const dir = mkdtempSync(path.join(os.tmpdir(), 'yubival-soak-'))
  const dbName = `yubival_soak_${randomBytes(4).toString('hex')}`
  const admin = new pg.Client({ connectionString: DB })
  await admin.connect()
  await admin.query(`CREATE DATABASE ${dbName}`)
  const dbUrl = new URL(DB)
  dbUrl.pathname = `/${dbName}`
  const env = { PATH: process.env.PATH, HOME: process.env.HOME ?? dir, YUBIVAL_DATA_DIR: dir, DATABASE_URL: dbUrl.toString() }
  let server = null
  try {
    log(`\n== soak: ${minutes} min at ~80 % of peak (keys and client in ${dir}, database ${dbName})`)
    const csv = cli(['keys', 'generate', '--start-public-id', '1000000', '--count', '1000', '--print', 'csv'], env)
    const keys = csv.split('\n').filter((l) => /^\d+,/.test(l)).map((l) => {
      const [, publicId, uid, aes] = l.split(',')
      return { publicId, privateUid: Buffer.from(uid, 'hex'), aesKey: Buffer.from(aes, 'hex') }
    })
    const [id, key] = cli(['clients', 'gen'], env).trim().split(',')
    const client = { id: Number(id), secret: Buffer.from(key, 'base64') }
    const port = await freePort()
    server = spawn(process.execPath, [BIN, 'serve'], {
      env: { ...env, YUBIVAL_HOST: '127.0.0.1', YUBIVAL_PORT: String(port), YUBIVAL_ADMIN_PORT: '0', YUBIVAL_LOG_LEVEL: 'warn' },
      stdio: ['ignore', 'ignore', 'pipe']
    })
    // Its start-up banner is noise here; its errors are shown if the soak fails.
    let serverErr = ''
    server.stderr.on('data', (d) => { serverErr = (serverErr + d).slice(-20_000) })
    const url = `http://127.0.0.1:${port}`
    for (let i = 0; ; i++) {
      try { if ((await fetch(`${url}/healthz`)).ok) break } catch { /* starting */ }
      if (i > 300) throw new Error('yubival serve did not start')
      await new Promise((resolve) => setTimeout(resolve, 100))
    }
    const next = otpStream(keys, client)
    await load(url, next, { connections: 16, seconds: 5 }) // warm-up (JIT, AEAD cache, pool)
    const peak = await load(url, next, { connections: 32, seconds: 15 })
    const rate = Math.max(10, Math.round(peak.rps * 0.8))
    log(`  peak: ${Math.round(peak.rps)} verifies/s (p99 ${peak.p99} ms, ${JSON.stringify(peak.statuses)}); soaking at ${rate}/s`)

    const samples = []
    const sampler = setInterval(() => samples.push({ s: samples.length * 10, rssMb: rssMb(server.pid) }), 10_000)
    samples.push({ s: 0, rssMb: rssMb(server.pid) })
    const result = await load(url, next, { connections: 32, seconds: Math.round(minutes * 60), rate })
    clearInterval(sampler)
    if (samples.at(-1).s < Math.round(minutes * 60)) samples.push({ s: Math.round(minutes * 60), rssMb: rssMb(server.pid) })

    const total = Object.values(result.statuses).reduce((a, b) => a + b, 0)
    const errors = total - (result.statuses.OK ?? 0) + result.errors + result.timeouts
    const window = Math.max(1, Math.floor(samples.length / 5))
    const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]
    const early = median(samples.slice(1, 1 + window).map((x) => x.rssMb))
    const late = median(samples.slice(-window).map((x) => x.rssMb))
    log(`  requests: ${total} (${Math.round(result.rps)}/s), statuses ${JSON.stringify(result.statuses)}, transport errors ${result.errors}, timeouts ${result.timeouts}, p99 ${result.p99} ms`)
    log(`  errors: ${errors} (must be 0)`)
    log(`  RSS MB over time: ${samples.map((x) => `${x.s}s=${x.rssMb}`).join(' ')}`)
    log(`  RSS early median ${early} MB, late median ${late} MB (${late >= early ? '+' : ''}${(((late - early) / early) * 100).toFixed(1)} %)`)
    const ok = errors === 0 && server.exitCode === null
    if (!ok) log(`  server stderr (tail):\n${serverErr}`)
    return ok ? 0 : 1
  } finally {
    server?.kill('SIGTERM')
    if (server !== null && server.exitCode === null) await once(server, 'exit')
    await admin.query(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`)
    await admin.end()
    rmSync(dir, { recursive: true, force: true })
  }
}

let status = 0
if (!flag('--soak-only')) status = runSuite()
if (flag('--soak') || flag('--soak-only')) status = (await soak()) || status
process.exit(status)
