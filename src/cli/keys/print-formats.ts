// How `keys generate --print` shows each new credential: for a provisioning CSV or a programming command.
import { formatYubikeyCsvLine } from '../../ksm/index.js'

export const PRINT_FORMATS = ['csv', 'ykpersonalize', 'ykman'] as const
export type PrintFormat = typeof PRINT_FORMATS[number]

export interface NewCredential {
  /** 1-based running number within this run. */
  n: number
  publicId: string
  uidHex: string
  keyHex: string
}

/**
 * One line per credential.
 * - csv: yhsm-decrypt-aead's yubikey-csv line.
 * - ykpersonalize: the key goes right after -a because ykpersonalize's -a takes an optional argument
 *   (getopt "a::"): `-a KEY` with a space would prompt for the key on stdin instead.
 * - ykman: `ykman otp yubiotp SLOT --public-id/--private-id/--key` (yubikey-manager 4 and 5).
 */
export function formatCredential (format: PrintFormat, c: NewCredential): string {
  switch (format) {
    case 'csv': return formatYubikeyCsvLine(c.n, c.publicId, c.uidHex, c.keyHex)
    case 'ykpersonalize': return `ykpersonalize -1 -o fixed=${c.publicId} -o uid=${c.uidHex} -a${c.keyHex}`
    case 'ykman': return `ykman otp yubiotp 1 --public-id ${c.publicId} --private-id ${c.uidHex} --key ${c.keyHex}`
  }
}
