// A real `yubival serve` process for the benchmark: started on a free port with its log going to a file
// (as under a service manager), timed until /healthz and /readyz answer, with a round-trip counter
// preloaded (scripts/bench-count-queries.mjs).
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { existsSync, openSync, readFileSync, rmSync } from 'node:fs'
import net from 'node:net'
import path from 'node:path'

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
      /** Database statements the server has issued so far, by prepared-statement name. */
      async queries () {
        rmSync(counterFile, { force: true })
        child.kill('SIGUSR2')
        for (let i = 0; i < 400; i++) {
          const text = existsSync(counterFile) ? readFileSync(counterFile, 'utf8') : ''
          if (text.endsWith('\n')) return JSON.parse(text)
          await sleep(5)
        }
        throw new Error('the server did not report its query count')
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
