// Fresh OTPs of one soft YubiKey with strictly increasing counters, made by python3-yubiotp (an
// independent encoder) in batches, so a 10,000-trial run spawns Python a handful of times.
import type { SoftKey } from '../../helpers/yubiotp.js'
import { yubiotpOtps } from '../../helpers/yubiotp.js'

export interface StreamOtp { otp: string, counter: number, use: number }

export class OtpStream {
  private buffer: StreamOtp[] = []

  /** `counter` is the last counter already used (the stream starts above it). */
  constructor (readonly key: SoftKey, private counter = 0, private readonly batch = 500) {}

  take (n: number): StreamOtp[] {
    while (this.buffer.length < n) {
      const specs = Array.from({ length: Math.max(this.batch, n - this.buffer.length) }, () => ({ counter: ++this.counter, use: 0 }))
      const otps = yubiotpOtps(this.key, specs)
      specs.forEach((s, i) => this.buffer.push({ otp: otps[i] as string, counter: s.counter, use: 0 }))
    }
    return this.buffer.splice(0, n)
  }

  next (): StreamOtp {
    return this.take(1)[0] as StreamOtp
  }
}
