// Markdown rendering of a benchmark result (scripts/bench.mjs writes it next to the JSON).

const fmt = (v, digits = 0) => v === null || v === undefined || Number.isNaN(v) ? '–' : v.toFixed(digits)
/** Sum over the server's processes, with the largest one in brackets when there are several. */
const rss = (server) => server.processes > 1 ? `${fmt(server.rssPeakMb)} (${fmt(server.rssPeakLargestMb)})` : fmt(server.rssPeakMb)
const ms = (v) => v === null || v === undefined ? '–' : v < 10 ? v.toFixed(2) : v.toFixed(1)

function statuses (s) {
  return Object.entries(s).sort(([, a], [, b]) => b - a).map(([k, n]) => `${k} ${n}`).join(', ')
}

function other (o) {
  const e = Object.entries(o)
  return e.length === 0 ? 'none' : e.map(([k, n]) => `${k} ${n}`).join(', ')
}

function table (head, rows) {
  return [`| ${head.join(' | ')} |`, `|${head.map(() => '---').join('|')}|`, ...rows.map((r) => `| ${r.join(' | ')} |`)].join('\n')
}

/** Throughput and latency (with the ceiling next to it), then where the CPU went. */
function runTables (runs, withCeiling) {
  const speedHead = ['conns', 'signed', 'verifies/s', 'p50 ms', 'p90 ms', 'p99 ms', 'max ms', 'statuses']
  if (withCeiling) speedHead.push('ceiling/s (pool)', 'ceiling p99 ms', 'verify ÷ ceiling')
  const speed = runs.map((r) => {
    const row = [r.concurrency, r.signed ? 'yes' : 'no', fmt(r.verifiesPerSec), ms(r.latencyMs.p50), ms(r.latencyMs.p90),
      ms(r.latencyMs.p99), ms(r.latencyMs.max), statuses(r.statuses)]
    if (withCeiling) row.push(r.ceiling ? `${fmt(r.ceiling.perSec)} (${r.ceiling.poolSize})` : '–', ms(r.ceiling?.latencyMs.p99), fmt(r.ratio, 2))
    return row
  })
  const costHead = ['conns', 'signed', 'server CPU %', 'server µs/verify', 'server RSS MB', 'PG µs/verify', 'loadgen µs/verify']
  if (withCeiling) costHead.push('ceiling µs/op: client + PG')
  costHead.push('machine busy %', 'statements/verify', 'other statements')
  const cost = runs.map((r) => {
    const row = [r.concurrency, r.signed ? 'yes' : 'no', fmt(r.server.cpuPct), fmt(r.server.cpuUsPerVerify), rss(r.server),
      fmt(r.postgres?.cpuUsPerVerify), fmt(r.loadgen.cpuUsPerVerify)]
    if (withCeiling) {
      const c = r.ceiling
      row.push(c?.postgresUsPerOp === undefined ? '–' : `${fmt(c.clientUsPerOp)} + ${fmt(c.postgresUsPerOp)}`)
    }
    row.push(fmt(r.machine.busyPct), r.queries === null ? '–' : fmt(r.queries.perVerify, 4), r.queries === null ? '–' : other(r.queries.other))
    return row
  })
  return `${table(speedHead, speed)}\n\n${table(costHead, cost)}`
}

export function renderMarkdown (result) {
  const m = result.machine
  const out = [
    `### ${result.startedAt} — ${m.cpus} × ${m.cpuModel}, ${m.memoryGb} GB, Node ${m.node}, ${result.postgresVersion ?? 'PostgreSQL ?'}`,
    '',
    `Command: \`${result.command}\``,
    '',
    `Keys: ${result.keys.count} (${result.keys.provisioned}); load average before ${result.loadBefore.join(' / ')}, ` +
      `after ${result.loadAfter.join(' / ')}; ${result.options.duration} s per run; server log level ${result.options.logLevel}` +
      (result.options.serverEnv.length > 0 ? `; server env ${result.options.serverEnv.join(' ')}` : '') +
      ((result.options.workers ?? 1) > 1
        ? `; YUBIVAL_WORKERS=${result.options.workers} (server CPU and RSS: primary + workers summed; largest process in brackets)`
        : '') + '.',
    '',
    `Start-up with ${result.keys.count} keys (spawn → /healthz 200 / → /readyz 200): ` +
      `${result.startups.map((s) => `${s.backend} ${s.healthyMs} / ${s.readyMs} ms`).join('; ')}.`,
    ''
  ]
  if (result.roundTrips) {
    const t = result.roundTrips
    const names = Object.entries(t.statementsByName).map(([k, n]) => `${k} ${n}`).join(', ')
    out.push('Round trips over the PostgreSQL server\'s whole life: ' +
      (t.verifiesLogged === null
        ? `statements issued ${names} (log level above info: no per-verify count).`
        : `${t.verifiesLogged} verifies answered (${t.okLogged} OK, counted in its log); statements issued (counted ` +
          `in-process by prepared-statement name): ${names} → **${fmt(t.acceptPerOk, 4)} accept statements per OK verify**, ` +
          `${fmt(t.statementsPerVerify, 4)} statements per verify in all. PostgreSQL's own count (pg_stat_database ` +
          `xact_commit delta, ceiling and monitor traffic subtracted): ${t.serverTransactions} transactions = ` +
          `${fmt(t.transactionsPerVerify, 4)} per verify.`), '')
  }
  out.push('**PostgreSQL**', '', runTables(result.runs.filter((r) => r.backend === 'postgresql'), true), '')
  const lite = result.runs.filter((r) => r.backend === 'pglite')
  if (lite.length > 0) out.push('**Embedded PGlite** (no ceiling: there is no second client to measure it with)', '', runTables(lite, false), '')
  return out.join('\n')
}
