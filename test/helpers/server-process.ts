// Runs a real `yubival serve` process on a free port, for tests that need a listening server.
import { spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import net from 'node:net'
import path from 'node:path'

const ROOT = path.resolve(import.meta.dirname, '..', '..')
export const BIN = path.join(ROOT, 'bin', 'yubival')

export async function freePort (): Promise<number> {
  const srv = net.createServer()
  srv.listen(0, '127.0.0.1')
  await once(srv, 'listening')
  const port = (srv.address() as net.AddressInfo).port
  srv.close()
  await once(srv, 'close')
  return port
}

export interface ServerProcess {
  url: string
  port: number
  child: ChildProcess
  /** Everything the process wrote to stdout and stderr so far. */
  output: () => string
  /** Resolves with the output once it contains `text` (the child's pipe is read by the event loop). */
  waitForOutput: (text: string, timeoutMs?: number) => Promise<string>
  stop: () => Promise<number | null>
}

/** Starts `yubival serve` with these environment variables and waits until it answers HTTP. */
export async function startServer (env: Record<string, string>, args: string[] = []): Promise<ServerProcess> {
  const port = await freePort()
  let out = ''
  const child = spawn(process.execPath, [BIN, 'serve', ...args], {
    // No admin listener unless a test asks for one: its fixed default port would clash between servers.
    env: { ...process.env, YUBIVAL_HOST: '127.0.0.1', YUBIVAL_PORT: String(port), YUBIVAL_ADMIN_PORT: '0', YUBIVAL_LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe']
  })
  child.stdout?.on('data', (d: Buffer) => { out += d.toString() })
  child.stderr?.on('data', (d: Buffer) => { out += d.toString() })
  const url = `http://127.0.0.1:${port}`
  const deadline = Date.now() + 30_000
  for (;;) {
    if (child.exitCode !== null) throw new Error(`yubival serve exited with ${child.exitCode}:\n${out}`)
    try {
      const res = await fetch(`${url}/healthz`)
      if (res.status === 200) break
    } catch { /* not listening yet */ }
    if (Date.now() > deadline) {
      child.kill('SIGKILL')
      throw new Error(`yubival serve did not start within 30 s:\n${out}`)
    }
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
  return {
    url,
    port,
    child,
    output: () => out,
    waitForOutput: async (text: string, timeoutMs = 10_000) => {
      const until = Date.now() + timeoutMs
      while (!out.includes(text)) {
        if (Date.now() > until) throw new Error(`server output does not contain ${JSON.stringify(text)}:\n${out}`)
        await new Promise((resolve) => setTimeout(resolve, 50))
      }
      return out
    },
    stop: async () => {
      if (child.exitCode !== null) return child.exitCode
      child.kill('SIGTERM')
      const [code] = await once(child, 'exit') as [number | null]
      return code
    }
  }
}
