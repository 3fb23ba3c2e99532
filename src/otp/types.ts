/** The fields of a decrypted Yubico OTP token (reference/ksm-pyhsm.md §5), byte order already applied. */
export interface OtpFields {
  /** Non-volatile usage counter, bytes 6-7 LE (16 bits, caps-lock bit 0x8000 kept as yubikey-val does). */
  counter: number
  /** Timestamp low 16 bits, bytes 8-9 LE. */
  timestampLow: number
  /** Timestamp high 8 bits, byte 10. */
  timestampHigh: number
  /** Session use counter, byte 11 (8 bits). */
  sessionUse: number
  /** Random, bytes 12-13 LE. */
  random: number
  /** Stored CRC, bytes 14-15 LE. */
  crc: number
}

/** An OTP string split into its two parts (both modhex, lower case). */
export interface SplitOtp {
  publicId: string
  token: string
}
