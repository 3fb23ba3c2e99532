// A throwaway PostgreSQL 15 cluster of our own (initdb + pg_ctl on a free port), so a test can stop,
// freeze and restart "the database" without touching the shared server. initdb refuses to run as root,
// so when we are root the binaries run as the `postgres` user on a data directory it owns.
import { execFileSync, spawnSync } from 'node:child_process'
import { chownSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir, userInfo } from 'node:os'
import path from 'node:path'
import pg from 'pg'
import { freePort } from '../../helpers/server-process.js'

const BIN = process.env.YUBIVAL_TEST_PG_BIN ?? '/usr/lib/postgresql/15/bin'

export function pgClusterAvailable (): boolean {
  return existsSync(path.join(BIN, 'initdb')) && existsSync(path.join(BIN, 'pg_ctl'))
}

export interface PgCluster {
  port: number
  /** URL of the cluster's `postgres` database (trust auth, user postgres). */
  adminUrl: string
  /** Creates a fresh database and returns its URL. */
  createDatabase: () => Promise<string>
  /** pg_ctl stop: 'fast' disconnects clients cleanly, 'immediate' is a crash (no shutdown checkpoint). */
  stop: (mode?: 'fast' | 'immediate') => void
  start: () => void
  /** SIGSTOP / SIGCONT every process of the cluster: a database that accepts bytes and never answers. */
  freeze: () => void
  thaw: () => void
  /** Stops the cluster (if running) and deletes it. */
  destroy: () => void
}

function asPostgres (cmd: string, args: string[]): string[] {
  return userInfo().uid === 0 ? ['runuser', '-u', 'postgres', '--', cmd, ...args] : [cmd, ...args]
}

function run (cmd: string, args: string[]): void {
  const [file, ...rest] = asPostgres(cmd, args) as [string, ...string[]]
  const r = spawnSync(file, rest, { encoding: 'utf8', timeout: 60_000 })
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.status}): ${r.stderr}${r.stdout}`)
}

/** The postmaster and all its children (they are the cluster; nothing else on the machine is touched). */
function clusterPids (dataDir: string): number[] {
  const pidFile = path.join(dataDir, 'postmaster.pid')
  if (!existsSync(pidFile)) return []
  const main = Number(readFileSync(pidFile, 'utf8').split('\n')[0])
  const children = execFileSync('ps', ['-o', 'pid=', '--ppid', String(main)], { encoding: 'utf8' })
    .split('\n').map((s) => Number(s.trim())).filter((n) => n > 0)
  return [main, ...children]
}

export async function createPgCluster (): Promise<PgCluster> {
  const root = mkdtempSync(path.join(tmpdir(), 'yubival-pgcluster-'))
  const dataDir = path.join(root, 'data')
  if (userInfo().uid === 0) {
    const pgUser = execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim()
    const pgGroup = execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).trim()
    chownSync(root, Number(pgUser), Number(pgGroup))
  }
  run(path.join(BIN, 'initdb'), ['-D', dataDir, '-U', 'postgres', '--auth=trust', '-E', 'UTF8', '--no-sync'])
  const port = await freePort()
  const opts = `-c listen_addresses=127.0.0.1 -c port=${port} -c unix_socket_directories=${root} -c fsync=off -c max_connections=200`
  const start = (): void => run(path.join(BIN, 'pg_ctl'), ['-D', dataDir, '-o', opts, '-l', path.join(root, 'log'), '-w', '-t', '60', 'start'])
  start()
  const adminUrl = `postgres://postgres@127.0.0.1:${port}/postgres`
  let n = 0
  const signal = (sig: NodeJS.Signals): void => {
    for (const pid of clusterPids(dataDir)) {
      try { process.kill(pid, sig) } catch { /* exited meanwhile */ }
    }
  }
  return {
    port,
    adminUrl,
    createDatabase: async () => {
      const name = `yubival_rel_${process.pid}_${++n}`
      const c = new pg.Client({ connectionString: adminUrl })
      await c.connect()
      try {
        await c.query(`CREATE DATABASE ${name}`)
      } finally {
        await c.end()
      }
      return `postgres://postgres@127.0.0.1:${port}/${name}`
    },
    stop: (mode = 'fast') => run(path.join(BIN, 'pg_ctl'), ['-D', dataDir, '-m', mode, '-w', '-t', '60', 'stop']),
    start,
    freeze: () => signal('SIGSTOP'),
    thaw: () => signal('SIGCONT'),
    destroy: () => {
      signal('SIGCONT')
      if (existsSync(path.join(dataDir, 'postmaster.pid'))) {
        try { run(path.join(BIN, 'pg_ctl'), ['-D', dataDir, '-m', 'immediate', '-w', 'stop']) } catch { /* already gone */ }
      }
      rmSync(root, { recursive: true, force: true })
    }
  }
}
