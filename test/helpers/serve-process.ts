// `yubival serve` as a child process for operations tests: any scheme (HTTP or HTTPS), the port taken
// from its own "yubival listening" log line (YUBIVAL_PORT=0, so no port race), its exit observable.
import { spawn, type ChildProcess } from 'node:child_process'
import https from 'node:https'
import { BIN, freePort } from './server-process.js'

export { freePort }

export interface ServeProcess {
  child: ChildProcess
  port: number
  /** The admin port when the test asked for one (YUBIVAL_ADMIN_PORT), else null. */
  adminPort: number | null
  output: () => string
  waitForOutput: (text: string, timeoutMs?: number) => Promise<void>
  /** Resolves with the exit code (null when killed by a signal). */
  exited: Promise<number | null>
  signal: (sig: NodeJS.Signals) => void
  /** SIGTERM, then the exit code. */
  stop: () => Promise<number | null>
}

async function waitFor (cond: () => boolean, what: () => string, timeoutMs: number): Promise<void> {
  const until = Date.now() + timeoutMs
  while (!cond()) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what()}`)
    await new Promise((resolve) => setTimeout(resolve, 25))
  }
}

/** Starts `yubival serve` and waits until it is listening (or throws with its output if it exits). */
export async function spawnServe (env: Record<string, string>): Promise<ServeProcess> {
  let out = ''
  const child = spawn(process.execPath, [BIN, 'serve'], {
    env: { ...process.env, YUBIVAL_HOST: '127.0.0.1', YUBIVAL_PORT: '0', YUBIVAL_ADMIN_PORT: '0', YUBIVAL_LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe']
  })
  child.stdout?.on('data', (d: Buffer) => { out += d.toString() })
  child.stderr?.on('data', (d: Buffer) => { out += d.toString() })
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)))
  let exitCode: number | null | undefined
  void exited.then((code) => { exitCode = code })
  await waitFor(() => out.includes('"msg":"yubival listening"') || exitCode !== undefined, () => `yubival serve to listen:\n${out}`, 60_000)
  if (exitCode !== undefined) throw new Error(`yubival serve exited with ${exitCode}:\n${out}`)
  const line = out.split('\n').find((l) => l.includes('"msg":"yubival listening"')) ?? ''
  const info = JSON.parse(line) as { port: number, admin: string | null }
  return {
    child,
    port: info.port,
    adminPort: info.admin === null ? null : Number(info.admin.slice(info.admin.lastIndexOf(':') + 1)),
    output: () => out,
    waitForOutput: async (text, timeoutMs = 20_000) => waitFor(() => out.includes(text), () => `${JSON.stringify(text)} in:\n${out}`, timeoutMs),
    exited,
    signal: (sig) => { child.kill(sig) },
    stop: async () => {
      if (exitCode === undefined) child.kill('SIGTERM')
      return exited
    }
  }
}

/** GET over HTTPS trusting only `ca`; resolves with status and body. */
export async function httpsGet (url: string, ca: string | Buffer): Promise<{ status: number, body: string }> {
  return new Promise((resolve, reject) => {
    https.get(url, { ca, agent: false }, (res) => {
      let body = ''
      res.setEncoding('utf8')
      res.on('data', (d: string) => { body += d })
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }))
    }).on('error', reject)
  })
}
