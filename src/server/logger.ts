import pino, { type Logger } from 'pino'
import type { LogLevel } from '../config.js'

// Belt and braces: even if someone logs a request or a params object, these never reach the output.
const REDACT = [
  'otp', '*.otp', 'secret', '*.secret', 'key', '*.key', 'h', '*.h',
  'req.url', 'req.query', 'request.url', 'params', '*.params', 'body', '*.body',
  'aesKey', '*.aesKey', 'privateUid', '*.privateUid'
]

// Lines are buffered up to this many bytes before one write, but never held longer than FLUSH_MS.
const BATCH_BYTES = 4096
const FLUSH_MS = 200

/**
 * Standard output written asynchronously and in batches: one write syscall per few kilobytes of lines
 * instead of one per line (one line per verify is the hot path's log). A timer flushes what is buffered
 * at least every FLUSH_MS, so a quiet server's lines still appear at once; pino flushes synchronously
 * when the process exits, also through process.exit(). Only a SIGKILL loses the last FLUSH_MS of lines.
 */
export function asyncStdout (): pino.DestinationStream & { flush: () => void } {
  const boom = pino.destination({ dest: 1, sync: false, minLength: BATCH_BYTES })
  let pending = false
  const flush = (): void => {
    if (!pending) return
    pending = false
    try { boom.flush() } catch { /* already closed at exit: pino flushed it then */ }
  }
  setInterval(flush, FLUSH_MS).unref()
  return {
    write: (line: string) => { pending = true; boom.write(line) },
    flush
  }
}

export function createLogger (level: LogLevel, destination?: pino.DestinationStream): Logger {
  return pino({
    level,
    base: { service: 'yubival' },
    timestamp: pino.stdTimeFunctions.isoTime,
    redact: { paths: REDACT, censor: '[redacted]' }
  }, destination)
}
