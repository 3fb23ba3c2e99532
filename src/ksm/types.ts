import type { KsmFailureReason } from '../outcome.js'
import type { OtpFields } from '../otp/types.js'

export type DecryptResult =
  | {
      ok: true
      publicId: string
      fields: OtpFields
      /** Key handle (number) that unwrapped the AEAD, and where the AEAD came from (for diagnostics). */
      keyHandle: number
      source: string
    }
  | {
      ok: false
      publicId: string
      reason: KsmFailureReason
      /** Human-readable, secret-free explanation (file path, key handle, what failed). */
      detail: string
      /**
       * Whether an AEAD was found and read before the failure (pyhsm answers `ERR` then, and
       * `ERR Unknown public_id` before). Undefined when not known (a remote KSM).
       */
      aeadFound?: boolean
    }

/** The KSM as the verify service sees it: turns an OTP into counters or a typed failure. */
export interface Ksm {
  decrypt(otp: string): Promise<DecryptResult>
}
