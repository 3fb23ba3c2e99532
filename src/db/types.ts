/** A WSAPI client (yubikey-val `clients` table). */
export interface ClientRecord {
  id: number
  active: boolean
  /** Unix seconds. */
  created: number
  /** Base64 HMAC-SHA1 key exactly as stored by yubikey-val. */
  secret: string
  email: string | null
  notes: string
  otp: string
}

/** Replay-protection state of one YubiKey (yubikey-val `yubikeys` table). -1 = never seen. */
export interface YubikeyRecord {
  publicId: string
  active: boolean
  created: number
  modified: number
  counter: number
  use: number
  low: number
  high: number
  nonce: string
  notes: string
}

/** The counters of an OTP being accepted, plus the request nonce and the server time (Unix s). */
export interface AcceptRequest {
  publicId: string
  counter: number
  use: number
  low: number
  high: number
  nonce: string
  now: number
  /** The normalised OTP: only a store that queues sync messages needs it (peers are sent it). */
  otp?: string
}

/** A queued sync message for one peer (stores that queue them). */
export interface QueuedSyncRef {
  id: string
  server: string
  serverNonce: string
}

export type AcceptResult =
  /** `queued`: the sync messages queued with the accept (none without a sync pool). */
  | { accepted: true; queued?: QueuedSyncRef[] }
  /** Not accepted: `current` is the row as it stands after the attempt (null: no row). */
  | { accepted: false; current: YubikeyRecord | null }

export interface ClientStore {
  /** The client with this id, active or not; null when none. */
  getClient(id: number): Promise<ClientRecord | null>
}

export interface YubikeyStore {
  /**
   * Atomically accept an OTP: insert the key if unseen, or raise its counters if and only if the key is
   * active and (counter, use) is strictly greater than the stored pair. One SQL statement; a result of
   * accepted=false means the OTP must NOT be reported as OK.
   */
  accept(req: AcceptRequest): Promise<AcceptResult>
  getYubikey(publicId: string): Promise<YubikeyRecord | null>
}
