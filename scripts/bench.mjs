#!/usr/bin/env node
// End-to-end verify benchmark (docs/benchmarks.md): provisions keys and a client with our own CLI, runs
// a real `yubival serve`, loads it with autocannon from a separate process, and measures the database
// ceiling (the accept statement alone, straight through pg) in the same run. Needs `npm run build`.
//
//   node scripts/bench.mjs [--keys 10000] [--duration 10] [--concurrency 1,8,32,128] [--no-signed]
//     [--warmup 3] [--startups 3] [--keys-dir DIR (kept, reused)] [--pglite-duration 5 | --no-pglite]
//     [--ceiling-pool-max 32] [--log-level info] [--server-env NAME=VALUE ...] [--profile] [--workers 1]
//     [--admin-url URL] [--out bench-results] [--keep]
//
// PostgreSQL: DATABASE_URL if set (used as is, never dropped), else a fresh database on --admin-url
// (default postgres://postgres@127.0.0.1:5432/postgres), dropped at the end.
import { execFileSync, fork } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { parseArgs } from 'node:util'
import pg from 'pg'
import { PgDatabase } from '../dist/db/pg-database.js'
import { PgliteDatabase } from '../dist/db/pglite-database.js'
import { BIN, startBenchServer } from './bench-server.mjs'
import {
  loadAverage, machineCpuMs, machineInfo, pidsCpuDelta, pidsCpuMs, processCpuMs, rssSampler
} from './bench-proc.mjs'
import { renderMarkdown } from './bench-report.mjs'

const ROOT = path.resolve(import.meta.dirname, '..')
const FIRST_PUBLIC_ID = 'vvcccccccccb'
/** The name YubikeysRepository.accept prepares its statement under. */
const ACCEPT_STATEMENT = 'yubival_accept_otp'

const { values: opt } = parseArgs({
  options: {
    keys: { type: 'string', default: '10000' },
    duration: { type: 'string', default: '10' },
    warmup: { type: 'string', default: '3' },
    startups: { type: 'string', default: '3' },
    concurrency: { type: 'string', default: '1,8,32,128' },
    'pglite-duration': { type: 'string', default: '5' },
    'no-pglite': { type: 'boolean', default: false },
    'no-signed': { type: 'boolean', default: false },
    'ceiling-pool-max': { type: 'string', default: '32' },
    'keys-dir': { type: 'string' },
    'admin-url': { type: 'string', default: 'postgres://postgres@127.0.0.1:5432/postgres' },
    'log-level': { type: 'string', default: 'info' },
    'server-env': { type: 'string', multiple: true, default: [] },
    profile: { type: 'boolean', default: false },
    // YUBIVAL_WORKERS of the measured server (PostgreSQL part; PGlite admits one process)
    workers: { type: 'string', default: '1' },
    out: { type: 'string', default: path.join(ROOT, 'bench-results') },
    keep: { type: 'boolean', default: false }
  }
})
const num = (name) => {
  const n = Number(opt[name])
  if (!Number.isFinite(n) || n < 0) throw new Error(`--${name}: expected a number, got ${JSON.stringify(opt[name])}`)
  return n
}
const options = {
  keys: num('keys'),
  duration: num('duration'),
  warmup: num('warmup'),
  startups: num('startups'),
  concurrency: opt.concurrency.split(',').map(Number),
  pgliteDuration: opt['no-pglite'] ? 0 : num('pglite-duration'),
  signedToo: !opt['no-signed'],
  ceilingPoolMax: num('ceiling-pool-max'),
  logLevel: opt['log-level'],
  serverEnv: opt['server-env'],
  profile: opt.profile,
  workers: num('workers')
}
const serverEnvExtra = Object.fromEntries(options.serverEnv.map((kv) => {
  const i = kv.indexOf('=')
  if (i < 1) throw new Error(`--server-env: expected NAME=VALUE, got ${JSON.stringify(kv)}`)
  return [kv.slice(0, i), kv.slice(i + 1)]
}))

const log = (msg) => process.stderr.write(`bench: ${msg}\n`)
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))
const round = (v, d = 1) => Math.round(v * 10 ** d) / 10 ** d
// Undo actions, last first; each registration returns its own "done, forget me".
const cleanups = []
function onCleanup (fn) {
  cleanups.push(fn)
  return () => { const i = cleanups.indexOf(fn); if (i >= 0) cleanups.splice(i, 1) }
}
async function cleanup () {
  while (cleanups.length > 0) await cleanups.pop()().catch((err) => log(`cleanup: ${err.message}`))
}

function cli (args, env) {
  return execFileSync(process.execPath, [BIN, ...args], {
    env: { PATH: process.env.PATH, HOME: process.env.HOME, ...env },
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
    maxBuffer: 1 << 30
  })
}

/** Keys through `yubival keys generate --print csv` (reused from --keys-dir when it already has them). */
function provisionKeys (dir, count) {
  const csv = path.join(dir, 'keys.csv')
  const env = { YUBIVAL_DATA_DIR: dir }
  if (existsSync(csv) && existsSync(path.join(dir, 'keys.json'))) {
    const lines = execFileSync('wc', ['-l', csv], { encoding: 'utf8' })
    if (Number(lines.trim().split(' ')[0]) === count) return { csv, env, provisioned: `reused from ${dir}`, seconds: null }
    throw new Error(`${dir} holds keys, but not ${count}: use another --keys-dir`)
  }
  mkdirSync(dir, { recursive: true })
  const t0 = performance.now()
  const out = openSync(csv, 'w', 0o600)
  execFileSync(process.execPath, [BIN, 'keys', 'generate', '--start-public-id', FIRST_PUBLIC_ID, '--count', String(count), '--print', 'csv'], {
    env: { PATH: process.env.PATH, HOME: process.env.HOME, ...env },
    stdio: ['ignore', out, 'pipe']
  })
  const seconds = (performance.now() - t0) / 1000
  return { csv, env, provisioned: `generated by \`yubival keys generate\` in ${seconds.toFixed(1)} s`, seconds }
}

function readPublicIds (csvFile) {
  return execFileSync('cut', ['-d,', '-f2', csvFile], { encoding: 'utf8', maxBuffer: 1 << 30 }).split('\n').filter((s) => s !== '')
}

// Every key starts "never seen" (-1), as yubikey-val's ykval-import does, so each measured verify is the
// steady-state UPDATE branch of the accept statement, not a first-use INSERT.
const SEED_SQL = `
INSERT INTO yubikeys (active, created, modified, yk_publicname, yk_counter, yk_use, yk_low, yk_high, nonce, notes)
SELECT TRUE, $2, $2, id, -1, -1, -1, -1, '', '' FROM unnest($1::text[]) AS id
ON CONFLICT (yk_publicname) DO NOTHING`

async function seed (db, ids) {
  const now = Math.floor(Date.now() / 1000)
  for (let i = 0; i < ids.length; i += 50_000) await db.query(SEED_SQL, [ids.slice(i, i + 50_000), now])
}

/** Verify lines in the server's log ({ total, ok }), or null when it logged at a level above info. */
function countLoggedVerifies (logFile) {
  let total = 0
  let ok = 0
  for (const line of readFileSync(logFile, 'utf8').split('\n')) {
    if (!line.includes('"msg":"verify"')) continue
    total++
    if (JSON.parse(line).status === 'OK') ok++
  }
  return total === 0 ? null : { total, ok }
}

/** Statements issued during a run (per verify), split into the accept statement and everything else. */
function queryDelta (before, after, responses, ok) {
  const names = new Set([...Object.keys(before), ...Object.keys(after)])
  let total = 0
  const other = {}
  for (const n of names) {
    const d = (after[n] ?? 0) - (before[n] ?? 0)
    total += d
    if (n !== ACCEPT_STATEMENT && d > 0) other[n] = d
  }
  const accepts = (after[ACCEPT_STATEMENT] ?? 0) - (before[ACCEPT_STATEMENT] ?? 0)
  return { total, perVerify: round(total / Math.max(1, responses), 4), acceptPerOk: round(accepts / Math.max(1, ok), 4), other }
}

function parseClient (line) {
  const m = /^(\d+),(\S+)$/.exec(line.trim())
  if (m === null) throw new Error(`unexpected clients gen output: ${line}`)
  return { id: Number(m[1]), key: m[2] }
}

/** The load generator: one forked process for the whole benchmark, one request at a time. */
function startLoad () {
  const child = fork(path.join(ROOT, 'scripts', 'bench-load.mjs'), [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
  onCleanup(async () => { if (child.exitCode === null) child.kill('SIGKILL') })
  return {
    pid: child.pid,
    run: (msg) => new Promise((resolve, reject) => {
      child.once('message', (m) => m.ok ? resolve(m.result) : reject(new Error(`load generator: ${m.error}`)))
      child.send(msg)
    }),
    stop: () => child.send({ cmd: 'exit' })
  }
}

/** A pg client that counts its own statements (they are transactions in pg_stat_database too). */
async function monitorClient (url) {
  const c = new pg.Client({ connectionString: url, application_name: 'yubival-bench-monitor' })
  await c.connect()
  let statements = 0
  return {
    get statements () { return statements },
    query: (text, values) => { statements++; return c.query(text, values) },
    end: () => c.end()
  }
}

async function main () {
  const startedAt = new Date().toISOString()
  const loadBefore = loadAverage()
  const workDir = mkdtempSync(path.join(tmpdir(), 'yubival-bench-'))
  onCleanup(async () => { if (!opt.keep) rmSync(workDir, { recursive: true, force: true }) })
  log(`work directory ${workDir}`)

  const keysDir = opt['keys-dir'] ?? path.join(workDir, 'keys')
  log(`provisioning ${options.keys} keys in ${keysDir}`)
  const keys = provisionKeys(keysDir, options.keys)
  const publicIds = readPublicIds(keys.csv)
  // The ceiling writes rows of its own ("cc…" instead of "vv…"): same table, never the server's keys.
  const ceilingIds = publicIds.map((id) => `cc${id.slice(2)}`)
  log(`keys ready (${keys.provisioned})`)

  // PostgreSQL database
  let databaseUrl = process.env.DATABASE_URL || null
  if (databaseUrl === null) {
    const name = `yubival_bench_${randomBytes(4).toString('hex')}`
    const admin = new pg.Client({ connectionString: opt['admin-url'] })
    await admin.connect()
    await admin.query(`CREATE DATABASE ${name}`)
    await admin.end()
    const url = new URL(opt['admin-url'])
    url.pathname = `/${name}`
    databaseUrl = url.toString()
    onCleanup(async () => {
      if (opt.keep) return log(`kept database ${databaseUrl}`)
      const a = new pg.Client({ connectionString: opt['admin-url'] })
      await a.connect()
      await a.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)
      await a.end()
    })
  }
  const baseEnv = {
    YUBIVAL_KEYFILE: path.join(keysDir, 'keys.json'),
    YUBIVAL_AEAD_DIR: path.join(keysDir, 'aeads'),
    YUBIVAL_LOG_LEVEL: options.logLevel,
    ...serverEnvExtra
  }
  const pgEnv = { ...baseEnv, YUBIVAL_DATA_DIR: path.join(workDir, 'data'), DATABASE_URL: databaseUrl, YUBIVAL_WORKERS: String(options.workers) }
  cli(['migrate'], pgEnv)
  const client = parseClient(cli(['clients', 'gen'], pgEnv))
  {
    const db = PgDatabase.open(databaseUrl, { poolSize: 1, statementTimeoutMs: 600_000 })
    await seed(db, publicIds)
    await seed(db, ceilingIds)
    await db.query('ANALYZE yubikeys')
    await db.close()
  }
  const monitor = await monitorClient(databaseUrl)
  const monitorDone = onCleanup(() => monitor.end().catch(() => undefined))
  const postgresVersion = (await monitor.query('SHOW server_version')).rows[0].server_version
  const dbName = new URL(databaseUrl).pathname.slice(1)
  const xactCommit = async (m) => Number((await m.query('SELECT xact_commit FROM pg_stat_database WHERE datname = $1', [dbName])).rows[0].xact_commit)
  const xactBefore = await xactCommit(monitor)

  const load = startLoad()
  const profileDir = path.join(opt.out, 'profiles')
  const nodeArgs = options.profile ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`] : []
  const startups = []
  const runs = []
  let nextIndex = 0
  let bestRate = 8000
  let ceilingStatements = 0
  let ceilingNext = 0 // the ceiling's rows have their own counters
  const r0 = { pglite: 0 } // PGlite starts from a fresh database, so its stream starts over
  let serverResponses = 0

  async function backendPids () {
    const { rows } = await monitor.query("SELECT pid FROM pg_stat_activity WHERE datname = $1 AND application_name = 'yubival'", [dbName])
    return rows.map((r) => r.pid)
  }

  /** One HTTP run against `server`, with the CPU/RSS/round-trip bookkeeping around it. */
  async function httpRun (server, backend, concurrency, signed, duration, label) {
    const precompute = Math.ceil(duration * bestRate * 1.3) + 1000
    await load.run({
      cmd: 'prepare', keysCsv: keys.csv, client, signed, startIndex: backend === 'pglite' ? r0.pglite : nextIndex, precompute
    })
    const q0 = await server.queries()
    const pgBefore = backend === 'postgresql' ? pidsCpuMs(await backendPids()) : null
    // every server process: a cluster primary and its workers
    const serverPids = server.pids()
    const s0 = pidsCpuMs(serverPids)
    const l0 = processCpuMs(load.pid)
    const m0 = machineCpuMs()
    let rss = null
    const rssStart = setTimeout(() => { rss = rssSampler(serverPids) }, 0)
    const r = await load.run({ cmd: 'http', url: server.url, connections: concurrency, duration })
    clearTimeout(rssStart)
    const rssPeak = rss?.stop() ?? null
    const m1 = machineCpuMs()
    const s1 = pidsCpuMs(serverPids)
    const l1 = processCpuMs(load.pid)
    const pgCpu = pgBefore === null ? null : pidsCpuDelta(pgBefore, pidsCpuMs(await backendPids()))
    const q1 = await server.queries()
    if (backend === 'pglite') r0.pglite = r.nextIndex
    else nextIndex = r.nextIndex
    serverResponses += r.responses
    const ok = r.statuses.OK ?? 0
    const perSec = r.responses / r.seconds
    if (label !== 'warmup') bestRate = Math.max(bestRate, perSec)
    const wallMs = r.seconds * 1000
    const serverMs = pidsCpuDelta(s0, s1)
    const busy = m1.busy - m0.busy
    const run = {
      backend,
      label,
      concurrency,
      signed,
      seconds: round(r.seconds, 2),
      responses: r.responses,
      verifiesPerSec: round(perSec),
      okPerSec: round(ok / r.seconds),
      statuses: r.statuses,
      errors: r.errors,
      timeouts: r.timeouts,
      non2xx: r.non2xx,
      latencyMs: r.latencyMs,
      server: {
        cpuPct: round(serverMs / wallMs * 100),
        cpuUsPerVerify: round(serverMs * 1000 / Math.max(1, r.responses)),
        rssPeakMb: rssPeak === null ? null : round(rssPeak.total),
        // the largest single process (differs from the sum with workers)
        rssPeakLargestMb: rssPeak === null ? null : round(rssPeak.largest),
        processes: serverPids.length
      },
      postgres: pgCpu === null ? null : { cpuPct: round(pgCpu / wallMs * 100), cpuUsPerVerify: round(pgCpu * 1000 / Math.max(1, r.responses)) },
      loadgen: {
        cpuPct: round((l1 - l0) / wallMs * 100),
        cpuUsPerVerify: round((l1 - l0) * 1000 / Math.max(1, r.responses)),
        precomputed: precompute,
        generatedLive: r.generatedLive
      },
      machine: {
        busyPct: round(busy / (m1.total - m0.total) * 100),
        otherPct: round((busy - serverMs - (l1 - l0) - (pgCpu ?? 0)) / wallMs * 100)
      },
      // PGlite has no pg client to count: its statements run in-process
      queries: backend === 'pglite' ? null : queryDelta(q0, q1, r.responses, ok)
    }
    const bad = Object.keys(r.statuses).filter((s) => s !== 'OK')
    log(`${backend} ${label} c=${concurrency} ${signed ? 'signed' : 'unsigned'}: ${run.verifiesPerSec}/s p99 ${r.latencyMs.p99} ms ` +
      `statuses ${JSON.stringify(r.statuses)} server ${run.server.cpuPct}% ${run.server.rssPeakMb} MB queries ${JSON.stringify(run.queries)}` +
      (bad.length > 0 || r.errors > 0 ? '  <-- NOT ALL OK' : ''))
    if (label !== 'warmup') runs.push(run)
    return run
  }
  async function ceilingRun (concurrency) {
    const startIndex = ceilingNext
    const poolSize = Math.min(concurrency, options.ceilingPoolMax)
    const c = await load.run({
      cmd: 'ceiling', databaseUrl, publicIds: ceilingIds, connections: concurrency, poolSize, duration: options.duration,
      startIndex
    })
    ceilingNext = c.nextIndex
    // accept + one extra read per refusal, plus the SELECT 1 that opens each connection and the pid query
    ceilingStatements += c.accepted + 2 * c.refused + poolSize + 1
    const perSec = c.accepted / c.seconds
    log(`ceiling c=${concurrency} pool=${poolSize}: ${round(perSec)}/s p99 ${c.latencyMs.p99} ms (refused ${c.refused})`)
    const ops = Math.max(1, c.accepted + c.refused)
    return {
      perSec: round(perSec),
      poolSize,
      refused: c.refused,
      latencyMs: c.latencyMs,
      loadgenCpuPct: round(c.loadgenCpuMs / (c.seconds * 10)),
      clientUsPerOp: round(c.loadgenCpuMs * 1000 / ops),
      postgresUsPerOp: round(c.pgCpuMs * 1000 / ops)
    }
  }

  // Start-up time alone, a few times (the measured server below is one more sample)
  for (let i = 0; i < options.startups; i++) {
    const s = await startBenchServer({ env: pgEnv, logFile: path.join(workDir, 'startup.log'), workDir })
    await s.stop()
    startups.push({ backend: 'postgresql', keys: options.keys, ...s.startup })
  }

  // PostgreSQL
  const server = await startBenchServer({ env: pgEnv, logFile: path.join(workDir, 'serve-postgresql.log'), nodeArgs, workDir })
  const serverDone = onCleanup(async () => { await server.stop() })
  startups.push({ backend: 'postgresql', keys: options.keys, ...server.startup })
  log(`serve on PostgreSQL ready: /healthz ${server.startup.healthyMs} ms, /readyz ${server.startup.readyMs} ms`)
  if (options.warmup > 0) await httpRun(server, 'postgresql', 8, false, options.warmup, 'warmup')
  for (const concurrency of options.concurrency) {
    const ceiling = await ceilingRun(concurrency)
    for (const signed of options.signedToo ? [false, true] : [false]) {
      const run = await httpRun(server, 'postgresql', concurrency, signed, options.duration, 'measured')
      run.ceiling = ceiling
      run.ratio = round(run.verifiesPerSec / ceiling.perSec, 3)
    }
  }
  await sleep(1000) // let requests the load generator gave up on finish before the final count
  const lifetimeStatements = await server.queries()
  await server.stop()
  serverDone()
  const logged = countLoggedVerifies(path.join(workDir, 'serve-postgresql.log'))

  // Round trips, second opinion: the server's transactions from PostgreSQL's own statistics. Backends
  // flush their counters when they exit, so wait until the server's and the ceiling's are gone.
  await monitor.end()
  monitorDone()
  let roundTrips = null
  {
    const waiter = await monitorClient(databaseUrl)
    for (let i = 0; i < 200; i++) {
      const { rows } = await waiter.query('SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()', [dbName])
      if (rows[0].n === 0) break
      await sleep(50)
    }
    await waiter.end()
    await sleep(200)
    const reader = await monitorClient(databaseUrl)
    const xactAfter = await xactCommit(reader)
    await reader.end()
    const serverTransactions = xactAfter - xactBefore - monitor.statements - waiter.statements - ceilingStatements
    const accepts = lifetimeStatements[ACCEPT_STATEMENT] ?? 0
    const statements = Object.values(lifetimeStatements).reduce((a, b) => a + b, 0)
    roundTrips = {
      // from the server's own log: one line per verify it answered (also those the load generator gave up on)
      verifiesLogged: logged?.total ?? null,
      okLogged: logged?.ok ?? null,
      statementsByName: lifetimeStatements,
      acceptPerOk: logged === null ? null : round(accepts / logged.ok, 4),
      statementsPerVerify: logged === null ? null : round(statements / logged.total, 4),
      serverTransactions,
      transactionsPerVerify: logged === null ? null : round(serverTransactions / logged.total, 4),
      serverResponses
    }
    log(`round trips: ${JSON.stringify(roundTrips)}`)
  }

  // PGlite: a short run on the embedded database (its own data directory, same keys)
  if (options.pgliteDuration > 0) {
    const liteEnv = { ...baseEnv, YUBIVAL_DATA_DIR: path.join(workDir, 'pglite-data') }
    cli(['migrate'], liteEnv)
    const liteClient = parseClient(cli(['clients', 'gen'], liteEnv))
    const db = await PgliteDatabase.open(path.join(liteEnv.YUBIVAL_DATA_DIR, 'pglite'))
    await seed(db, publicIds)
    await db.close()
    const lite = await startBenchServer({ env: liteEnv, logFile: path.join(workDir, 'serve-pglite.log'), nodeArgs, workDir })
    const liteDone = onCleanup(async () => { await lite.stop() })
    startups.push({ backend: 'pglite', keys: options.keys, ...lite.startup })
    log(`serve on PGlite ready: /healthz ${lite.startup.healthyMs} ms, /readyz ${lite.startup.readyMs} ms`)
    Object.assign(client, liteClient) // the PostgreSQL part is over
    await httpRun(lite, 'pglite', 8, false, Math.min(options.pgliteDuration, 2), 'warmup')
    for (const concurrency of [8, 32]) await httpRun(lite, 'pglite', concurrency, false, options.pgliteDuration, 'measured')
    await lite.stop()
    liteDone()
  }
  load.stop()

  const result = {
    startedAt,
    command: `node scripts/bench.mjs ${process.argv.slice(2).join(' ')}`.trim(),
    machine: machineInfo(),
    postgresVersion: `PostgreSQL ${postgresVersion}`,
    loadBefore,
    loadAfter: loadAverage(),
    options,
    keys: { count: options.keys, provisioned: keys.provisioned, generateSeconds: keys.seconds },
    startups,
    roundTrips,
    runs
  }
  mkdirSync(opt.out, { recursive: true })
  const stamp = startedAt.replace(/[:.]/g, '-')
  const jsonFile = path.join(opt.out, `bench-${stamp}.json`)
  const mdFile = path.join(opt.out, `bench-${stamp}.md`)
  writeFileSync(jsonFile, JSON.stringify(result, null, 2) + '\n')
  const md = renderMarkdown(result)
  writeFileSync(mdFile, md + '\n')
  process.stdout.write(md + '\n')
  log(`wrote ${jsonFile} and ${mdFile}`)
}

process.once('SIGINT', () => { cleanup().finally(() => process.exit(130)) })
try {
  await main()
} finally {
  await cleanup()
}
