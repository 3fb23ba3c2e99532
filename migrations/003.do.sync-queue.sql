-- Outgoing messages to the peers of a yubikey-val sync pool (reference yubikey-val.md §4.1). Not
-- yubikey-val's `queue` table (which may exist in an adopted database and is left alone): rows have an
-- id, survive restarts, are retried with backoff, and are coalesced to the newest message per peer, key
-- and kind, so the queue is bounded by peers x keys (plus YUBIVAL_SYNC_QUEUE_LIMIT on top).
CREATE TABLE IF NOT EXISTS sync_queue (
  id BIGSERIAL PRIMARY KEY,
  -- 'otp': counters of an accepted OTP; 'state': a key's counters and active flag (keys enable/disable, resync)
  kind VARCHAR(5) NOT NULL CHECK (kind IN ('otp', 'state')),
  server VARCHAR(100) NOT NULL,
  yk_publicname VARCHAR(16) NOT NULL,
  -- random per row (yubikey-val's md5(uniqid(rand())) was predictable): a row answered after it was
  -- replaced by a newer message is never deleted by the old answer
  server_nonce VARCHAR(32) NOT NULL,
  otp VARCHAR(100) NOT NULL,
  modified INT NOT NULL,
  yk_counter INT NOT NULL,
  yk_use INT NOT NULL,
  yk_high INT NOT NULL,
  yk_low INT NOT NULL,
  nonce VARCHAR(40) NOT NULL,
  -- only state rows carry it
  active BOOLEAN,
  queued_at BIGINT NOT NULL,
  -- Unix ms; the worker takes rows whose time has come (leases and backoff move it forward)
  next_attempt_at BIGINT NOT NULL,
  attempts INT NOT NULL DEFAULT 0,
  last_error VARCHAR(200),
  UNIQUE (server, yk_publicname, kind)
);

CREATE INDEX IF NOT EXISTS sync_queue_due ON sync_queue (next_attempt_at, id);
