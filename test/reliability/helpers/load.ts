// A steady verify load for fault tests: one loop per key, each sending that key's fresh OTPs one after
// the other (so the counters of a key only grow), every answer recorded with when it was sent and got.
import type { OtpStream } from './otp-stream.js'
import { sleep, verify, type Client } from './verify-client.js'

export interface LoadRecord {
  key: number
  otp: string
  counter: number
  status: string
  sentAt: number
  answeredAt: number
}

export interface Load {
  records: LoadRecord[]
  /** Stops sending, waits for the answers in flight, returns everything. */
  stop: () => Promise<LoadRecord[]>
}

export function startLoad (opts: {
  urls: () => string[]
  client: Client
  streams: OtpStream[]
  deadlineMs: number
  /** Pause between a loop's requests (0: back to back). */
  pauseMs?: number
  /**
   * Send an OTP again after BACKEND_ERROR (as pam_yubico and ykclient do with their URL list) until it
   * gets another answer: this is how a late commit could turn into a second acceptance.
   */
  retryBackendErrors?: boolean
}): Load {
  const records: LoadRecord[] = []
  let running = true
  const loops = opts.streams.map(async (stream, key) => {
    let i = 0
    let retry: { otp: string, counter: number } | null = null
    while (running) {
      const urls = opts.urls()
      if (urls.length === 0) {
        await sleep(20)
        continue
      }
      const next: { otp: string, counter: number } = retry ?? stream.next()
      const { otp, counter } = next
      const sentAt = Date.now()
      const a = await verify(urls[(key + i++) % urls.length] as string, opts.client, otp, { deadlineMs: opts.deadlineMs })
      records.push({ key, otp, counter, status: a.status, sentAt, answeredAt: Date.now() })
      retry = opts.retryBackendErrors === true && a.status === 'BACKEND_ERROR' ? { otp, counter } : null
      // A refused connection or a database that is down answers at once: do not spin.
      if (a.status === 'NETWORK' || a.status === 'BACKEND_ERROR') await sleep(25)
      else if (opts.pauseMs) await sleep(opts.pauseMs)
    }
  })
  return {
    records,
    stop: async () => {
      running = false
      await Promise.all(loops)
      return records
    }
  }
}

/**
 * Waits until `pred` holds for `count` records sent after `since`; the ms until the last of them was
 * answered, or null after `limitMs`.
 */
export async function waitForRecord (load: Load, since: number, pred: (r: LoadRecord) => boolean, limitMs: number, count = 1): Promise<number | null> {
  const until = Date.now() + limitMs
  for (;;) {
    const hits = load.records.filter((r) => r.sentAt >= since && pred(r))
    if (hits.length >= count) return Math.max(...hits.slice(0, count).map((r) => r.answeredAt)) - since
    if (Date.now() > until) return null
    await sleep(20)
  }
}
