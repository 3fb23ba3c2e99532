// One taxonomy of verify outcomes: every answer carries a WSAPI status (what the client sees)
// and a machine-readable reason (what logs and metrics see, and what `otp decode` explains).

export const WSAPI_STATUSES = [
  'OK',
  'BAD_OTP',
  'REPLAYED_OTP',
  'REPLAYED_REQUEST',
  'BAD_SIGNATURE',
  'MISSING_PARAMETER',
  'NO_SUCH_CLIENT',
  'OPERATION_NOT_ALLOWED',
  'BACKEND_ERROR',
  'NOT_ENOUGH_ANSWERS'
] as const
export type WsapiStatus = (typeof WSAPI_STATUSES)[number]

/** Reasons the in-process KSM can fail to decrypt an OTP. */
export const KSM_FAILURE_REASONS = [
  'bad_otp_format', // not 32-48 lower-case modhex characters
  'unknown_key', // no AEAD for this public id under any configured key handle
  'aead_unreadable', // AEAD file exists but cannot be read/parsed (I/O error, bad version, truncated)
  'unknown_key_handle', // AEAD names a key handle that the keyfile does not hold
  'aead_auth_failed', // AES-CCM tag check failed: wrong keyfile key or corrupted AEAD
  'uid_mismatch', // token decrypted, but private uid differs from the AEAD's
  'crc_mismatch', // token decrypted, but CRC-16 residue is not 0xf0b8
  'ksm_unavailable', // remote KSMs: none answered (unreachable, timeout, HTTP error, garbled answer)
  'ksm_rejected' // remote KSMs: every one answered ERR other than an unknown public id
] as const
export type KsmFailureReason = (typeof KSM_FAILURE_REASONS)[number]

export const REASONS = [
  'ok',
  // request validation (checked in yubikey-val's order)
  'missing_nonce',
  'bad_sl',
  'bad_timeout',
  'bad_client_id',
  'bad_nonce',
  // client
  'no_such_client',
  'bad_signature',
  // KSM
  ...KSM_FAILURE_REASONS,
  // key state and counters
  'key_disabled',
  'replayed_request',
  'replayed_otp',
  // sync pool (YUBIVAL_SYNC_POOL): what the peers answered
  'not_enough_answers', // fewer peers than the sync level requires confirmed the OTP in time
  'replayed_on_peer', // a peer had already seen this OTP (or a later one)
  'key_disabled_on_peer', // a peer has the key disabled: it is now disabled here too
  // infrastructure
  'db_unavailable',
  'internal_error'
] as const
export type Reason = (typeof REASONS)[number]

/** The WSAPI status each reason maps to. Deliberate differences from yubikey-val are in the README. */
export const STATUS_OF_REASON: Record<Reason, WsapiStatus> = {
  ok: 'OK',
  missing_nonce: 'MISSING_PARAMETER',
  bad_sl: 'MISSING_PARAMETER',
  bad_timeout: 'MISSING_PARAMETER',
  bad_client_id: 'MISSING_PARAMETER',
  bad_nonce: 'MISSING_PARAMETER',
  no_such_client: 'NO_SUCH_CLIENT',
  bad_signature: 'BAD_SIGNATURE',
  bad_otp_format: 'BAD_OTP',
  unknown_key: 'BAD_OTP',
  uid_mismatch: 'BAD_OTP',
  crc_mismatch: 'BAD_OTP',
  // A remote KSM's bare `ERR`/`ERR Invalid OTP` does not say why: the OTP is refused, as yubikey-val does.
  ksm_rejected: 'BAD_OTP',
  ksm_unavailable: 'BACKEND_ERROR',
  // The KSM itself is broken or misconfigured: the OTP may be fine, so do not blame it.
  aead_unreadable: 'BACKEND_ERROR',
  unknown_key_handle: 'BACKEND_ERROR',
  aead_auth_failed: 'BACKEND_ERROR',
  key_disabled: 'BAD_OTP',
  replayed_request: 'REPLAYED_REQUEST',
  replayed_otp: 'REPLAYED_OTP',
  not_enough_answers: 'NOT_ENOUGH_ANSWERS',
  replayed_on_peer: 'REPLAYED_OTP',
  key_disabled_on_peer: 'BAD_OTP',
  db_unavailable: 'BACKEND_ERROR',
  internal_error: 'BACKEND_ERROR'
}
