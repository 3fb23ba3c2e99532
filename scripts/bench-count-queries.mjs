// Preloaded into the benchmarked `yubival serve` (node --import) to count database round trips: every
// pg Client.query call is one (named statements are parsed, bound and executed in one exchange). On
// SIGUSR2 the counts so far, by prepared-statement name ("unnamed" for the rest), are written as JSON to
// the file named by BENCH_QUERY_COUNT_FILE plus `.<pid>` (one per process: a cluster has several).
import { writeFileSync } from 'node:fs'
import pg from 'pg'

const file = process.env.BENCH_QUERY_COUNT_FILE
if (file !== undefined && file !== '') {
  const counts = {}
  const query = pg.Client.prototype.query
  pg.Client.prototype.query = function (...args) {
    const name = typeof args[0] === 'object' && args[0] !== null && typeof args[0].name === 'string' ? args[0].name : 'unnamed'
    counts[name] = (counts[name] ?? 0) + 1
    return query.apply(this, args)
  }
  process.on('SIGUSR2', () => writeFileSync(`${file}.${process.pid}`, `${JSON.stringify(counts)}\n`))
}
