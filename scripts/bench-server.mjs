// A real `yubival serve` process for the benchmark: started on a free port with its log going to a file
// (as under a service manager), timed until /healthz and /readyz answer, with a round-trip counter
// preloaded (scripts/bench-count-queries.mjs).
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { existsSync, openSync, readFileSync, rmSync } from 'node:fs'
import net from 'node:net'
import path from 'node:path'
import { processTree } from './bench-proc.mjs'

const ROOT = path.resolve(import.meta.dirname, '..')
export const BIN = path.join(ROOT, 'bin', 'yubival')
const COUNTER = path.join(ROOT, 'scripts', 'bench-count-queries.mjs')

async function freePort () {
  const srv = net.createServer()
  srv.listen(0, '127.0.0.1')
  await once(srv, 'listening')
  const { port } = srv.address()
  srv.close()
  await once(srv, 'close')
  return port
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

async function waitFor (url, child, deadline, logFile) {
  for (;;) {
    if (child.exitCode !== null) throw new Error(`yubival serve exited with ${child.exitCode}; see ${logFile}`)
    try {
      const res = await fetch(url)
      if (res.status === 200) return
    } catch { /* not listening yet */ }
    if (Date.now() > deadline) throw new Error(`${url} not ready within 60 s; see ${logFile}`)
    await sleep(5)
  }
}

/**
 * Starts the server with exactly `env` (plus PATH/HOME) and returns its pid, url, start-up timings
 * (ms from spawn until /healthz, then /readyz, answer 200) and a round-trip counter reader.
 */
export async function startBenchServer ({ env, logFile, nodeArgs = [], workDir }) {
  const port = await freePort()
  const out = openSync(logFile, 'a')
  const counterFile = path.join(workDir, `queries-${port}`)
  const t0 = performance.now()
  const child = spawn(process.execPath, [...nodeArgs, '--import', COUNTER, BIN, 'serve'], {
    env: {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      ...env,
      YUBIVAL_HOST: '127.0.0.1',
      YUBIVAL_PORT: String(port),
      // no admin listener (metrics, probes): its fixed default port would clash with other servers here
      YUBIVAL_ADMIN_PORT: '0',
      BENCH_QUERY_COUNT_FILE: counterFile
    },
    stdio: ['ignore', out, out]
  })
  const url = `http://127.0.0.1:${port}`
  const deadline = Date.now() + 60_000
  try {
    await waitFor(`${url}/healthz`, child, deadline, logFile)
    const healthyMs = performance.now() - t0
    await waitFor(`${url}/readyz`, child, deadline, logFile)
    const readyMs = performance.now() - t0
    return {
      pid: child.pid,
      url,
      startup: { healthyMs: Math.round(healthyMs), readyMs: Math.round(readyMs) },
      /** The server's processes: the cluster primary and its workers with YUBIVAL_WORKERS > 1. */
      pids: () => processTree(child.pid),
      /** Database statements the server's processes have issued so far, by prepared-statement name. */
      async queries () {
        const total = {}
        for (const pid of processTree(child.pid)) {
          const file = `${counterFile}.${pid}`
          rmSync(file, { force: true })
          process.kill(pid, 'SIGUSR2')
          let text = ''
          for (let i = 0; i < 400 && !text.endsWith('\n'); i++) {
            await sleep(5)
            text = existsSync(file) ? readFileSync(file, 'utf8') : ''
          }
          if (!text.endsWith('\n')) throw new Error(`server process ${pid} did not report its query count`)
          for (const [name, n] of Object.entries(JSON.parse(text))) total[name] = (total[name] ?? 0) + n
        }
        return total
      },
      async stop () {
        if (child.exitCode !== null) return child.exitCode
        child.kill('SIGTERM')
        const [code] = await once(child, 'exit')
        return code
      }
    }
  } catch (err) {
    child.kill('SIGKILL')
    throw err
  }
}
