import pino, { type Logger } from 'pino'
import type { LogLevel } from '../config.js'

// Belt and braces: even if someone logs a request or a params object, these never reach the output.
const REDACT = [
  'otp', '*.otp', 'secret', '*.secret', 'key', '*.key', 'h', '*.h',
  'req.url', 'req.query', 'request.url', 'params', '*.params', 'body', '*.body',
  'aesKey', '*.aesKey', 'privateUid', '*.privateUid'
]

export function createLogger (level: LogLevel, destination?: pino.DestinationStream): Logger {
  return pino({
    level,
    base: { service: 'yubival' },
    timestamp: pino.stdTimeFunctions.isoTime,
    redact: { paths: REDACT, censor: '[redacted]' }
  }, destination)
}
